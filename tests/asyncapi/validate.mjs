// validate.mjs FILE — parses an AsyncAPI document with the official parser
// (@asyncapi/parser, with the Avro schema parser so Avro payloads are
// checked too) and exits non-zero when the parser reports any error. Every
// diagnostic is printed with its path, so a failure says what to fix.
import { readFile } from 'node:fs/promises';
import { Parser, DiagnosticSeverity } from '@asyncapi/parser';
import { AvroSchemaParser } from '@asyncapi/avro-schema-parser';

const file = process.argv[2];
if (!file) {
  console.error('usage: node validate.mjs ASYNCAPI_FILE');
  process.exit(2);
}
const parser = new Parser();
parser.registerSchemaParser(AvroSchemaParser());
const text = await readFile(file, 'utf8');
const { document, diagnostics } = await parser.parse(text, { source: file });
const severity = ['error', 'warning', 'information', 'hint'];
let errors = 0;
for (const d of diagnostics) {
  if (d.severity === DiagnosticSeverity.Error) errors++;
  console.log(`${severity[d.severity] ?? d.severity}: ${d.path.join('.') || '(root)'}: ${d.message} [${d.code}]`);
}
// Every Avro payload must have gone through the Avro schema parser (it
// turns each into a JSON Schema of type object): a payload it did not
// read would otherwise pass unchecked.
if (document) {
  for (const m of document.allMessages()) {
    const p = m.payload();
    if (p && p.schemaFormat().startsWith('application/vnd.apache.avro') && p.type() !== 'object') {
      errors++;
      console.log(`error: message ${m.id()}: its Avro payload was not parsed into a record schema`);
    }
  }
}
if (errors > 0 || !document) {
  console.error(`${file}: ${errors} error(s); not a valid AsyncAPI document`);
  process.exit(1);
}
console.log(`${file}: valid AsyncAPI ${document.version()}: ${document.channels().length} channels, ${document.operations().length} operations, ${document.allMessages().length} messages`);
