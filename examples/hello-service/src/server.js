// hello-service: answers /, /healthz and /version on 127.0.0.1:$PORT.
// /version reports the sha256 of the artifact this process was unpacked from
// ($CAIRN_ARTIFACT), computed here from the bytes, so cairn can compare it with
// the desired release.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

const config = JSON.parse(readFileSync(new URL('./config.json', import.meta.url), 'utf8'));
const artifact = process.env.CAIRN_ARTIFACT;
const digest = artifact ? `sha256:${createHash('sha256').update(readFileSync(artifact)).digest('hex')}` : null;
const port = Number(process.env.PORT ?? 8080);
const host = process.env.HOST ?? '127.0.0.1';

function send(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(`${JSON.stringify(body)}\n`);
}

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (req.method !== 'GET') return send(res, 405, { error: 'method not allowed' });
  switch (url.pathname) {
    case '/':
      return send(res, 200, { message: config.greeting });
    case '/healthz':
      return send(res, 200, { status: 'ok' });
    case '/version':
      return send(res, 200, { service: 'hello-service', digest, environment: process.env.CAIRN_ENVIRONMENT ?? null });
    default:
      return send(res, 404, { error: 'not found' });
  }
});

server.listen(port, host, () => console.log(`hello-service listening on http://${host}:${port}`));
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => server.close(() => process.exit(0)));
