// Lints Cypher files with Neo4j's own parser and semantic analysis (@neo4j-cypher/language-support,
// the library behind Neo4j's editors): syntax errors, deprecations, unknown functions and
// procedures, and labels / relationship types not declared in cypher/schema.json. The package
// does not check property keys, so this script also walks each parse tree and reports a
// property read (x.key) or pattern map key ((n {key: ...})) that schema.json does not declare.
//
// Usage: node lint.mjs [directory of .cypher files] [schema.json]
// Prints one JSON object {file: [{severity, line, column, message}]} and exits 1 on any finding.
import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// The package's ESM build has extension-less imports Node cannot resolve; its CommonJS build works.
const require = createRequire(import.meta.url);
const { lintCypherQuery, parse, parseParameters, testData, CypherParser } = require('@neo4j-cypher/language-support');

const here = dirname(fileURLToPath(import.meta.url));
const dir = resolve(process.argv[2] ?? join(here, '..', '..', 'cypher'));
const schemaDoc = JSON.parse(readFileSync(process.argv[3] ?? join(dir, 'schema.json'), 'utf8'));

const VERSION = 'CYPHER 5';
const propsOf = (table) => Object.values(table).flat().map((p) => p.property);
const propertyKeys = new Set([
  ...propsOf(schemaDoc.node_props),
  ...propsOf(schemaDoc.rel_props),
  ...(schemaDoc.map_keys ?? []),
]);
// The built-in functions and the db.* procedures of a Neo4j 5 server, with their deprecation
// flags, as the package ships them (its mock of a real server's dbms.listFunctions / listProcedures).
const pick = (registry, keep) => Object.fromEntries(Object.entries(registry[VERSION]).filter(([n, f]) => keep(n, f)));
const functions = pick(testData.mockSchema.functions, (_, f) => f.isBuiltIn);
const procedures = pick(testData.mockSchema.procedures, (n) => n.startsWith('db.'));

function dbSchema(text) {
  const parameters = Object.fromEntries(parseParameters(text, false).map((p) => [p, null]));
  return {
    labels: Object.keys(schemaDoc.node_props),
    relationshipTypes: [...new Set([...Object.keys(schemaDoc.rel_props), ...schemaDoc.relationships.map((r) => r.type)])],
    propertyKeys: [...propertyKeys],
    // Parameter names are checked on the Python side (graph_credit/store/neo4j/cypher.py, Statement.check).
    parameters,
    functions: { [VERSION]: functions },
    procedures: { [VERSION]: procedures },
    defaultLanguage: VERSION,
  };
}

function unknownProperties(text) {
  const found = [];
  const visit = (ctx) => {
    if (ctx.ruleIndex === CypherParser.RULE_propertyKeyName) {
      const parent = ctx.parentCtx;
      const read = parent?.ruleIndex === CypherParser.RULE_property;
      const patternKey = parent?.ruleIndex === CypherParser.RULE_map && parent.parentCtx?.ruleIndex === CypherParser.RULE_properties;
      const name = ctx.getText().replace(/^`|`$/g, '');
      if ((read || patternKey) && !propertyKeys.has(name)) {
        found.push({ severity: 1, line: ctx.start.line, column: ctx.start.column,
                     message: `Property key ${name} is not declared in schema.json` });
      }
    }
    for (const child of ctx.children ?? []) visit(child);
  };
  parse(text).forEach(visit);
  return found;
}

const report = {};
let findings = 0;
for (const file of readdirSync(dir).filter((f) => f.endsWith('.cypher')).sort()) {
  const text = readFileSync(join(dir, file), 'utf8');
  const diagnostics = lintCypherQuery(text, dbSchema(text)).map((d) => ({
    severity: d.severity, line: d.range.start.line + 1, column: d.range.start.character, message: d.message,
  }));
  const all = [...diagnostics, ...unknownProperties(text)];
  report[file] = all;
  findings += all.length;
}
process.stdout.write(JSON.stringify(report, null, 1) + '\n');
process.exit(findings ? 1 : 0);
