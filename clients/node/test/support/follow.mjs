// Follow a revocation feed until the view rejects every token named on the
// command line, then print what the feed did as JSON. The client half of
// tests/feed/test_clients.py, which runs the Python and the Node feed
// clients against one scripted server.
//
//   node follow.mjs URL CLIENT_ID CLIENT_SECRET '[{"sub":…,"sid":…,"jti":…,"authTime":…,"cause":…}]'
import { RevocationFeed } from "../../dist/index.js";

const [url, clientId, clientSecret, wanted] = process.argv.slice(2);
const facts = JSON.parse(wanted);
const feed = new RevocationFeed({ url, clientId, clientSecret, reconnectDelay: 100 }).start();
const deadline = Date.now() + 10_000;
const causes = () => facts.map((f) => feed.view.cause(f, Date.now() / 1000));
while (Date.now() < deadline && causes().some((c, i) => c !== facts[i].cause)) {
  await new Promise((resolve) => setTimeout(resolve, 10));
}
console.log(JSON.stringify({ causes: causes(), position: feed.position, connections: feed.connections, snapshots: feed.snapshots, fresh: feed.staleness() < 5 }));
await feed.stop();
