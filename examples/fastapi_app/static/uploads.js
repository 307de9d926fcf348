// The page's uploader: Uppy's Dashboard, sending files through rindle's upload API.
'use strict'

// --8<-- [start:uppy]
const endpoint = '/api/uploads' // where the app mounts the upload API
// One form POST per file up to 100 MiB, multipart above (Uppy's default cut-off).
const useMultipart = (file) => file.size > 100 * 2 ** 20

const uppy = new Uppy.Uppy()
  .use(Uppy.Dashboard, { target: '#uploads', inline: true })
  .use(Uppy.AwsS3, { companionEndpoint: endpoint, shouldUseMultipart: useMultipart })

// Uppy calls nothing after a single-file POST: tell rindle the file is there,
// so it verifies and promotes it (Uppy completes a multipart upload itself).
uppy.on('upload-success', async (file, response) => {
  let location = response.body.location // the session's status, after multipart
  if (!useMultipart(file)) {
    const key = encodeURIComponent(response.body.key)
    const done = await fetch(`${endpoint}/s3/complete?key=${key}`, {
      method: 'POST',
      credentials: 'same-origin',
    })
    if (!done.ok) {
      uppy.info(`${file.name} was not accepted (HTTP ${done.status})`, 'error')
      return
    }
    location = (await done.json()).location
  }
  showDone(file.name, location)
})
// --8<-- [end:uppy]

// Each finished upload, with the link to its session's status (JSON).
function showDone (name, location) {
  const link = document.createElement('a')
  link.href = location
  link.textContent = name
  const item = document.createElement('li')
  item.append(link)
  document.getElementById('done').append(item)
}
