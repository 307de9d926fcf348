// Rebuilds rindle's Uppy bundle from the npm registry: `node build.mjs` (Node 18+, npm).
//
// Installs exactly the versions in package-lock.json (`npm ci`, no install
// scripts) into a temporary directory, so no node_modules is left here, and
// writes, next to this file:
//
//   uppy.min.js              one minified IIFE: window.Uppy = {Uppy, AwsS3, GoldenRetriever, Dashboard}
//   uppy.min.css             the styles of @uppy/core and @uppy/dashboard
//   THIRD_PARTY_LICENSES.txt the licence of every package the bundle contains
//
// The same lock gives the same bytes. To move to new versions: edit
// package.json, run `npm install --package-lock-only --ignore-scripts`,
// then this script, and commit the five files together.

import { execFileSync } from 'node:child_process'
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const manifest = JSON.parse(readFileSync(join(here, 'package.json'), 'utf8'))
const work = mkdtempSync(join(tmpdir(), 'rindle-uppy-'))

try {
  for (const name of ['package.json', 'package-lock.json', 'entry.js']) {
    cpSync(join(here, name), join(work, name))
  }
  execFileSync('npm', ['ci', '--ignore-scripts', '--no-audit', '--no-fund'], {
    cwd: work,
    stdio: 'inherit',
  })
  const modules = join(work, 'node_modules')
  const installed = (name) =>
    JSON.parse(readFileSync(join(modules, name, 'package.json'), 'utf8'))

  const pinned = Object.entries(manifest.dependencies)
  for (const [name, version] of pinned) {
    const got = installed(name).version
    if (got !== version) throw new Error(`${name}: pinned ${version}, installed ${got}`)
  }
  const versions = pinned.map(([name, version]) => `${name} ${version}`).join(', ')
  const banner =
    `/*! rindle's Uppy bundle (window.Uppy): ${versions}. Licences: ` +
    'THIRD_PARTY_LICENSES.txt. Built by build.mjs from package-lock.json. */'

  const esbuild = createRequire(join(work, 'package.json'))('esbuild')
  const built = await esbuild.build({
    entryPoints: [join(work, 'entry.js')],
    absWorkingDir: work,
    bundle: true,
    minify: true,
    format: 'iife',
    globalName: 'Uppy',
    target: ['es2022'],
    charset: 'utf8',
    legalComments: 'none',
    define: { 'process.env.NODE_ENV': '"production"' },
    banner: { js: banner },
    metafile: true,
    write: false,
  })
  writeFileSync(join(here, 'uppy.min.js'), built.outputFiles[0].contents)

  const css = ['@uppy/core', '@uppy/dashboard'].map((name) =>
    readFileSync(join(modules, name, 'dist', 'style.min.css'), 'utf8')
      .replace(/\/\*# sourceMappingURL=[^*]*\*\/\s*$/, '')
      .trim(),
  )
  writeFileSync(join(here, 'uppy.min.css'), `${banner}\n${css.join('\n')}\n`)

  writeFileSync(join(here, 'THIRD_PARTY_LICENSES.txt'), licences(built.metafile, modules))
  console.log(`built ${versions}`)
} finally {
  rmSync(work, { recursive: true, force: true })
}

/** The licence text of every package with a file in the bundle, by package name. */
function licences(metafile, modules) {
  const names = new Set(['@uppy/core', '@uppy/dashboard'])
  for (const input of Object.keys(metafile.inputs)) {
    const match = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input)
    if (match) names.add(match[1])
  }
  const sections = [...names].sort().map((name) => {
    const root = join(modules, name)
    const meta = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
    const file = ['LICENSE', 'LICENSE.md', 'LICENSE.txt', 'license', 'LICENCE'].find((f) =>
      existsSync(join(root, f)),
    )
    const text = file ? readFileSync(join(root, file), 'utf8').trim() : `License: ${meta.license}`
    return `${name} ${meta.version} (${meta.license})\n\n${text}\n`
  })
  const rule = `\n${'-'.repeat(78)}\n\n`
  return `The Uppy bundle (uppy.min.js, uppy.min.css) contains these packages.\n${rule}${sections.join(rule)}`
}
