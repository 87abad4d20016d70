// The default pod "member" until the ArangoDB simulator exists: an HTTP server on the address the
// controller assigns (TRANSIT_LISTEN_ADDRESS, every port of TRANSIT_PORTS) that answers
// GET /_api/version like arangod. The X-Transit-Pod header names the pod, so tests can see which
// endpoint a proxy picked.
import { createServer } from 'node:http';

const host = process.env.TRANSIT_LISTEN_ADDRESS;
const ports = (process.env.TRANSIT_PORTS ?? '8529').split(',').map(Number);
const pod = `${process.env.TRANSIT_POD_NAMESPACE ?? ''}/${process.env.TRANSIT_POD_NAME ?? ''}`;
if (!host) {
  console.error('version-member: TRANSIT_LISTEN_ADDRESS is not set (start it through the test controller)');
  process.exit(2);
}
const body = JSON.stringify({ server: 'arango', version: '3.12.4', license: 'community' });
const servers = ports.map((port) =>
  createServer((req, res) => {
    res.setHeader('x-transit-pod', pod);
    if (req.method === 'GET' && (req.url ?? '').split('?')[0] === '/_api/version') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(body);
    } else {
      res
        .writeHead(404, { 'content-type': 'application/json' })
        .end(JSON.stringify({ error: true, code: 404, errorNum: 404, errorMessage: 'unknown path' }));
    }
  }).listen(port, host, () => console.error(`version-member ${pod} listening on ${host}:${port}`)),
);
// Do not outlive the controller that started us (a killed test run would leave the address taken).
const parent = process.ppid;
setInterval(() => process.ppid !== parent && process.kill(process.pid, 'SIGTERM'), 500).unref();
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.on(sig, () => {
    let open = servers.length;
    for (const s of servers) {
      s.close(() => --open === 0 && process.exit(0));
      s.closeAllConnections();
    }
  });
}
