// Judge a corpus of tokens and print each verdict (an error kind or
// "accepted") as JSON: the Node half of tests/node/test_same_verdicts.py.
// stdin: {"issuer", "audience", "now", "jwks", "snapshot", "tokens": [...]}
import { createVerifier, parseSnapshot } from "../../dist/index.js";

let input = "";
for await (const chunk of process.stdin) input += chunk;
const { issuer, audience, now, jwks, snapshot, tokens } = JSON.parse(input);
const verifier = createVerifier({ issuer, audience, jwks, revocations: false, clock: () => now });
await verifier.ready();
verifier.view.load(parseSnapshot(snapshot));
const verdicts = [];
for (const token of tokens) {
  try {
    await verifier.verify(token);
    verdicts.push("accepted");
  } catch (error) {
    verdicts.push(error.kind ?? `unexpected: ${error}`);
  }
}
console.log(JSON.stringify(verdicts));
