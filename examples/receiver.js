// A webhook receiver for trying socialscalr out: it checks each delivery's signature the
// way the integration guide describes, with nothing but Node's own crypto module.
//
//   WEBHOOK_SECRET=whsec_... node examples/receiver.js [port]
//
// Listens on 127.0.0.1 (default port 9000), answers 204 to a verified delivery and 401
// to anything whose signature does not match.
'use strict';

const crypto = require('crypto');
const http = require('http');

const secret = process.env.WEBHOOK_SECRET;
if (!secret) {
  console.error('receiver: set WEBHOOK_SECRET to the secret shown when the webhook was created');
  process.exit(2);
}
const port = Number(process.argv[2] || 9000);

function verify(rawBody, header) {
  const expected = 'sha256=' + crypto.createHmac('sha256', secret).update(rawBody).digest('hex');
  const given = Buffer.from(String(header || ''));
  const wanted = Buffer.from(expected);
  return given.length === wanted.length && crypto.timingSafeEqual(given, wanted);
}

http
  .createServer((req, res) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => {
      const rawBody = Buffer.concat(chunks);
      if (!verify(rawBody, req.headers['x-socialscalr-signature'])) {
        console.log('REFUSED: signature does not match');
        res.writeHead(401).end('bad sig');
        return;
      }
      const envelope = JSON.parse(rawBody.toString('utf8'));
      console.log(
        `verified ${envelope.event} ${envelope.id}` +
          ` (delivery ${req.headers['x-socialscalr-delivery-id']},` +
          ` attempt ${req.headers['x-socialscalr-attempt']})`,
      );
      console.log(JSON.stringify(envelope.data, null, 2));
      res.writeHead(204).end();
    });
  })
  .listen(port, '127.0.0.1', () => {
    console.log(`receiver: listening on http://127.0.0.1:${port}/`);
  });
