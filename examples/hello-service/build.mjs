// Build: render greeting.yaml to JSON and copy the server into dist/.
// Deterministic on purpose: no timestamps, no absolute paths, stable key order.
import { mkdirSync, readFileSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { parse } from 'yaml';

rmSync('dist', { recursive: true, force: true });
mkdirSync('dist');
const config = parse(readFileSync('greeting.yaml', 'utf8'));
writeFileSync('dist/config.json', `${JSON.stringify({ greeting: config.greeting, routes: config.routes }, null, 2)}\n`);
copyFileSync('src/server.js', 'dist/server.js');
writeFileSync('dist/package.json', `${JSON.stringify({ name: 'hello-service', version: '1.0.0', type: 'module' }, null, 2)}\n`);
console.log('built dist/ (server.js, config.json, package.json)');
