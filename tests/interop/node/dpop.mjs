// A DPoP client made with oauth4webapi, unchanged, against a real jwtwarden:
// a password grant, a refresh and a protected-resource call (GET /me), each
// with DPoP proofs from oauth4webapi's own key handling, retrying once when
// the server answers use_dpop_nonce (oauth4webapi keeps the nonce it sent).
//
// stdin: {"metadata": <RFC 8414 document>, "username": "...", "password": "..."}
// stdout: {"steps": [{"step": "...", "nonce_retry": bool, ...}], "jkt": "...", ...}
//
// The one non-default is allowInsecureRequests: the test server is plain
// HTTP on loopback. It changes nothing about DPoP.
import * as oauth from 'oauth4webapi'

const chunks = []
for await (const chunk of process.stdin) chunks.push(chunk)
const { metadata, username, password } = JSON.parse(Buffer.concat(chunks).toString())

const as = { ...metadata }
const client = { client_id: 'jwtwarden' }
const auth = oauth.None()
const insecure = { [oauth.allowInsecureRequests]: true }
const keyPair = await oauth.generateKeyPair('ES256')
const DPoP = oauth.DPoP(client, keyPair)
const steps = []

// RFC 9449 §8: a use_dpop_nonce refusal is retried once, with the nonce.
const withNonceRetry = async (step, call) => {
  try {
    const result = await call()
    steps.push({ step, nonce_retry: false })
    return result
  } catch (error) {
    if (!oauth.isDPoPNonceError(error)) throw error
    const result = await call()
    steps.push({ step, nonce_retry: true })
    return result
  }
}

const tokens = await withNonceRetry('password', async () => {
  const response = await oauth.genericTokenEndpointRequest(
    as, client, auth, 'password', new URLSearchParams({ username, password }),
    { DPoP, ...insecure },
  )
  return oauth.processGenericTokenEndpointResponse(as, client, response)
})
const refreshed = await withNonceRetry('refresh', async () => {
  const response = await oauth.refreshTokenGrantRequest(
    as, client, auth, tokens.refresh_token, { DPoP, ...insecure },
  )
  return oauth.processRefreshTokenResponse(as, client, response)
})
const me = await withNonceRetry('me', async () => {
  const response = await oauth.protectedResourceRequest(
    refreshed.access_token, 'GET', new URL(`${metadata.issuer}/me`), new Headers(), null,
    { DPoP, ...insecure },
  )
  if (response.status !== 200) throw new Error(`GET /me: ${response.status} ${await response.text()}`)
  return response.json()
})
process.stdout.write(JSON.stringify({
  steps,
  token_types: [tokens.token_type, refreshed.token_type],
  access_token: refreshed.access_token,
  refresh_token: refreshed.refresh_token,
  me,
}))
