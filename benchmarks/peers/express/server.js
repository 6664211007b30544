// The express peer of the gateway scenario: express + express-jwt +
// jwks-rsa in front of http-proxy with a keep-alive agent, as a Node team
// would write it. Listens on 127.0.0.1, prints "LISTEN addr" and exits when
// its stdin closes (the scenario owns it). Env: UPSTREAM, JWKS, ISSUER,
// AUDIENCE.
const http = require("http");
const express = require("express");
const { expressjwt } = require("express-jwt");
const jwksRsa = require("jwks-rsa");
const httpProxy = require("http-proxy");

const { UPSTREAM, JWKS, ISSUER, AUDIENCE } = process.env;
const proxy = httpProxy.createProxyServer({
  target: UPSTREAM,
  agent: new http.Agent({ keepAlive: true, maxSockets: 256 }),
});
proxy.on("error", (err, req, res) => {
  res.writeHead(502);
  res.end("bad gateway");
});

const app = express();
app.use(
  expressjwt({
    secret: jwksRsa.expressJwtSecret({ jwksUri: JWKS, cache: true, rateLimit: true }),
    algorithms: ["ES256", "RS256", "EdDSA"],
    issuer: ISSUER,
    audience: AUDIENCE,
  }),
);
app.use((err, req, res, next) => {
  res.status(401).end("unauthorized");
});
app.use((req, res) => proxy.web(req, res));

const server = http.createServer({ keepAliveTimeout: 90000 }, app);
server.listen(0, "127.0.0.1", () => {
  const a = server.address();
  process.stdout.write(`LISTEN ${a.address}:${a.port}\n`);
});
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
