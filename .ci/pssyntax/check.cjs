// PowerShell syntax check of rmm's embedded scripts, with the
// tree-sitter-powershell grammar (npm) through web-tree-sitter (WebAssembly:
// nothing to compile). No pwsh is needed. Usage: node check.cjs FILE...
// Prints FILE:LINE:COLUMN for each syntax error and exits 1 when any file
// has one.
//
// The grammar is not PowerShell's own parser. Its known false positives,
// each checked against what PowerShell 5.1 accepts:
//   1. Numeric multiplier suffixes in capitals (1MB, 1GB): the grammar
//      knows only kb, mb, gb, tb, pb in lower case; PowerShell ignores
//      case. The checker lower-cases them before parsing (same length, so
//      positions stay right).
//   2. Bare words separated by commas as a command argument
//      (Sort-Object Name, Id): write them quoted ('Name', 'Id').
//   3. Two statements on one line without a separator where PowerShell
//      allows it: a switch clause right after another ({ 1 } default
//      { 2 }), or a statement right after a param(...) block on its
//      line. Put them on lines of their own.
'use strict';
const fs = require('fs');
const path = require('path');
const { Parser, Language } = require('web-tree-sitter');

// multiplier matches a numeric literal with a multiplier suffix in any
// case; PowerShell's own lexer is case-insensitive here.
const multiplier = /\b(\d+(?:\.\d+)?)(kb|mb|gb|tb|pb)\b/gi;

function normalize(src) {
  return src.replace(multiplier, (_, n, unit) => n + unit.toLowerCase());
}

// errors lists the ERROR and MISSING nodes of a tree, outermost first.
function errors(node, out) {
  if (node.type === 'ERROR' || node.isMissing) {
    out.push(node);
    return out;
  }
  if (node.hasError) {
    for (const child of node.children) errors(child, out);
  }
  return out;
}

async function main(files) {
  if (files.length === 0) {
    console.error('usage: node check.cjs FILE...');
    return 2;
  }
  await Parser.init();
  const wasm = require.resolve('tree-sitter-powershell/tree-sitter-powershell.wasm');
  const lang = await Language.load(wasm);
  const parser = new Parser();
  parser.setLanguage(lang);
  let bad = 0;
  for (const file of files) {
    const src = normalize(fs.readFileSync(file, 'utf8').replace(/^\uFEFF/, ''));
    const tree = parser.parse(src);
    const found = errors(tree.rootNode, []);
    if (found.length === 0) continue;
    bad++;
    for (const n of found) {
      const at = `${file}:${n.startPosition.row + 1}:${n.startPosition.column + 1}`;
      const text = src.slice(n.startIndex, Math.min(n.endIndex, n.startIndex + 60)).split('\n')[0];
      console.log(n.isMissing ? `${at}: syntax error: missing ${n.type}` : `${at}: syntax error near ${JSON.stringify(text)}`);
    }
    tree.delete();
  }
  console.log(`${files.length - bad} passed, ${bad} failed`);
  if (bad > 0) {
    console.log(`(the grammar's known false positives are listed in ${path.join('.ci', 'pssyntax', 'check.cjs')} and the README)`);
  }
  return bad > 0 ? 1 : 0;
}

main(process.argv.slice(2)).then((code) => process.exit(code), (err) => {
  console.error(err);
  process.exit(2);
});
