// Third-party WebSocket peer for interop tests, using the `ws` package.
// server [deflate]: prints `PORT <n>`, then one JSON line per connection (with the negotiated
//         `extensions`); echoes messages with their type; the text `please-close` closes with
//         4001 "custom". With `deflate` it accepts permessage-deflate and compresses every
//         message (ws's server default is no compression).
// client URL [PROTO]: sends a text and a binary message and a large compressible text, pings,
//         closes with 1000, prints JSON. It offers permessage-deflate (ws's client default).
'use strict';
const WebSocket = require('ws');

const mode = process.argv[2];
if (mode === 'server') {
  const wss = new WebSocket.Server({
    host: '127.0.0.1',
    port: 0,
    handleProtocols: (protocols) => (protocols.size ? [...protocols][0] : false),
    perMessageDeflate: process.argv[3] === 'deflate' ? { threshold: 0 } : false,
  });
  let extensions = null;
  wss.on('headers', (headers) => {
    const line = headers.find((h) => h.toLowerCase().startsWith('sec-websocket-extensions:'));
    extensions = line ? line.slice(line.indexOf(':') + 1).trim() : null;
  });
  wss.on('listening', () => console.log(`PORT ${wss.address().port}`));
  wss.on('connection', (ws, req) => {
    console.log(JSON.stringify({
      path: req.url, headers: req.headers, subprotocol: ws.protocol, extensions,
    }));
    ws.on('message', (data, isBinary) => {
      if (!isBinary && data.toString() === 'please-close') {
        ws.close(4001, 'custom');
        return;
      }
      ws.send(data, { binary: isBinary });
    });
  });
} else {
  const url = process.argv[3];
  const proto = process.argv[4];
  const ws = proto ? new WebSocket(url, [proto]) : new WebSocket(url);
  const got = [];
  let pong = false;
  let extensions = null;
  let bigOk = false;
  const big = Array.from({ length: 5000 }, (_, i) => `line ${i} of a large compressible message\n`).join('');
  ws.on('upgrade', (res) => { extensions = res.headers['sec-websocket-extensions'] || null; });
  ws.on('open', () => ws.send('hello'));
  ws.on('message', (data, isBinary) => {
    got.push(isBinary ? { binary_hex: Buffer.from(data).toString('hex') } : { text: data.toString() });
    if (got.length === 1) ws.send(Buffer.from([0, 1, 2, 255]), { binary: true });
    if (got.length === 2) ws.send(big);
    if (got.length === 3) {
      bigOk = !isBinary && data.toString() === big;
      ws.ping('abc');
    }
  });
  ws.on('pong', () => { pong = true; ws.close(1000, 'done'); });
  ws.on('close', (code) => {
    console.log(JSON.stringify({
      text: got[0] && got[0].text, binary_hex: got[1] && got[1].binary_hex,
      subprotocol: ws.protocol, pong, close_code: code, big_ok: bigOk, extensions,
    }));
  });
  ws.on('error', (e) => { console.error(String(e)); process.exit(1); });
}
