// rindle serve's demo page: Uppy uploads through rindle's API, and each session's
// state transitions as the server's event stream reports them.
'use strict'
;(() => {
  const api = document.body.dataset.api
  const MULTIPART_OVER = 8 * 1024 * 1024
  const isMultipart = (file) => (file.size || 0) > MULTIPART_OVER

  const list = document.getElementById('sessions')
  const empty = document.getElementById('empty')
  const live = document.getElementById('live')
  const rows = new Map()
  let lastSeq = 0

  startUppy()
  watchEvents()

  function startUppy() {
    const ns = window.Uppy
    if (!ns || !ns.Uppy || !ns.AwsS3 || !ns.Dashboard) {
      const note = document.createElement('p')
      note.className = 'problem'
      note.textContent = 'The Uppy bundle did not load: is rindle_core/web/static/uppy/uppy.min.js installed?'
      document.getElementById('uppy').append(note)
      return
    }
    const uppy = new ns.Uppy({ autoProceed: true })
      .use(ns.Dashboard, {
        inline: true,
        target: '#uppy',
        width: '100%',
        height: 380,
        proudlyDisplayPoweredByUppy: false,
        showProgressDetails: true,
        note: 'Drop files here: small ones go as one POST, those over 8 MiB in parts.',
      })
      .use(ns.AwsS3, { companionEndpoint: api, shouldUseMultipart: isMultipart })
    if (ns.GoldenRetriever) uppy.use(ns.GoldenRetriever)
    // Uppy calls nothing after a single-file POST: tell rindle the object is there.
    uppy.on('upload-success', (file, response) => {
      const key = response && response.body && response.body.key
      if (isMultipart(file) || !key) return
      fetch(`${api}/s3/complete?key=${encodeURIComponent(key)}`, {
        method: 'POST',
        credentials: 'same-origin',
      })
        .then((answer) => (answer.ok ? null : answer.json()))
        .then((problem) => {
          if (problem) uppy.info(problem.detail || problem.title || 'completion failed', 'error', 6000)
        })
        .catch(() => uppy.info('completion failed: the server did not answer', 'error', 6000))
    })
  }

  function watchEvents() {
    const source = new EventSource('/events')
    source.onopen = () => setLive('live', true)
    source.onerror = () => setLive('reconnecting…', false)
    source.addEventListener('transition', (event) => show(JSON.parse(event.data)))
  }

  function setLive(text, on) {
    live.textContent = text
    live.classList.toggle('on', on)
  }

  function show(t) {
    if (t.seq <= lastSeq) return
    lastSeq = t.seq
    const row = rowFor(t.upload)
    if (t.name) row.name.textContent = t.name
    if (t.strategy) row.strategy.textContent = t.strategy.replace('_', ' ')
    const chain = t.machine === 'asset' ? row.asset : row.session
    if (chain.childElementCount === 0 && t.from) chain.append(state(t.from))
    if (chain.childElementCount > 0) chain.append(arrow())
    chain.append(state(t.to, t.at))
    if (t.reason) row.reason.textContent = t.reason
  }

  function rowFor(upload) {
    let row = rows.get(upload)
    if (row) return row
    const li = document.createElement('li')
    const head = document.createElement('div')
    head.className = 'head'
    row = {
      name: element('strong', 'name', 'upload ' + upload.slice(0, 8)),
      strategy: element('span', 'strategy', ''),
      session: element('span', 'chain', ''),
      asset: element('span', 'chain', ''),
      reason: element('div', 'reason', ''),
    }
    head.append(row.name, row.strategy)
    li.append(head, line('session', row.session), line('asset', row.asset), row.reason)
    list.prepend(li)
    empty.hidden = true
    rows.set(upload, row)
    return row
  }

  function line(label, chain) {
    const div = element('div', 'line', '')
    div.append(element('span', 'label', label), chain)
    return div
  }

  function state(name, at) {
    const span = element('span', `state state-${name}`, name)
    if (at) span.title = new Date(at).toLocaleTimeString()
    return span
  }

  function arrow() {
    return element('span', 'arrow', '→')
  }

  function element(tag, className, text) {
    const node = document.createElement(tag)
    node.className = className
    node.textContent = text
    return node
  }
})()
