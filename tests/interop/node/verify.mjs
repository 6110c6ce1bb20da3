// Verify jwtwarden access tokens with Node's jose and oauth4webapi, each
// unchanged and with its defaults, keys from the server's jwks_uri.
//
// stdin: {"metadata": <RFC 8414 document>, "audience": "...", "tokens": {name: jwt}}
// stdout: {"jose": {name: "ok" | "<error code>: <message>"}, "oauth4webapi": {...}}
//
// The one non-default is oauth4webapi's allowInsecureRequests: the test
// server is plain HTTP on loopback, and oauth4webapi refuses http:// URLs
// otherwise. It changes nothing about how a token is judged.
import * as jose from 'jose'
import * as oauth from 'oauth4webapi'

const chunks = []
for await (const chunk of process.stdin) chunks.push(chunk)
const { metadata, audience, tokens } = JSON.parse(Buffer.concat(chunks).toString())

const outcome = async (check) => {
  try {
    await check()
    return 'ok'
  } catch (error) {
    return `${error.code ?? error.name}: ${error.message}`
  }
}

const jwks = jose.createRemoteJWKSet(new URL(metadata.jwks_uri))
const as = { ...metadata }
const results = { jose: {}, oauth4webapi: {} }
for (const [name, token] of Object.entries(tokens)) {
  results.jose[name] = await outcome(() =>
    jose.jwtVerify(token, jwks, { issuer: metadata.issuer, audience, typ: 'at+jwt' }),
  )
  results.oauth4webapi[name] = await outcome(() => {
    const request = new Request('http://rs.test/api', {
      headers: { authorization: `Bearer ${token}` },
    })
    return oauth.validateJwtAccessToken(as, request, audience, {
      [oauth.allowInsecureRequests]: true,
    })
  })
}
process.stdout.write(JSON.stringify(results))
