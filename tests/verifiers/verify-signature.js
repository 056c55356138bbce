#!/usr/bin/env node
// Verifies socialscalr webhook signatures the way an integrator would, independently of
// the Rust code: the expected header is
//   'sha256=' + crypto.createHmac('sha256', secret).update(rawBody).digest('hex')
// with the endpoint secret's text as the key and the raw request body as the message.
//
// Reads a JSON array of {"secret", "body_base64", "signature"} from stdin. Prints how many
// signatures it verified and exits 0 when all match; otherwise names each mismatch on
// stderr and exits 1.
'use strict';

const crypto = require('crypto');

function expectedSignature(secret, rawBody) {
  return 'sha256=' + crypto.createHmac('sha256', secret).update(rawBody).digest('hex');
}

function matches(expected, header) {
  const a = Buffer.from(expected, 'utf8');
  const b = Buffer.from(String(header), 'utf8');
  return a.length === b.length && crypto.timingSafeEqual(a, b);
}

function main(input) {
  let deliveries;
  try {
    deliveries = JSON.parse(input);
  } catch (error) {
    console.error(`input is not JSON: ${error.message}`);
    return 2;
  }
  if (!Array.isArray(deliveries) || deliveries.length === 0) {
    console.error('input must be a non-empty JSON array of {secret, body_base64, signature}');
    return 2;
  }
  let failures = 0;
  deliveries.forEach((delivery, index) => {
    const { secret, body_base64: bodyBase64, signature } = delivery;
    if (typeof secret !== 'string' || typeof bodyBase64 !== 'string') {
      console.error(`delivery ${index}: secret and body_base64 must be strings`);
      failures += 1;
      return;
    }
    const rawBody = Buffer.from(bodyBase64, 'base64');
    const expected = expectedSignature(secret, rawBody);
    if (!matches(expected, signature)) {
      console.error(
        `delivery ${index}: signature mismatch: header ${signature}, expected ${expected}`);
      failures += 1;
    }
  });
  if (failures > 0) {
    console.error(`${failures} of ${deliveries.length} signatures did not verify`);
    return 1;
  }
  console.log(`verified ${deliveries.length} signatures`);
  return 0;
}

const chunks = [];
process.stdin.on('data', (chunk) => chunks.push(chunk));
process.stdin.on('end', () => {
  process.exitCode = main(Buffer.concat(chunks).toString('utf8'));
});
