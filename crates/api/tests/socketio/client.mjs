// The seed dashboard's real-time client, as its integration guide writes it:
//   const socket = io('http://localhost:8000');
//   socket.on(`job:${jobId}`, callback);
// Usage: node client.mjs <url> <job_id> <how many of its events> [polling|websocket]
// Prints one JSON line per thing that happens ({"connected": transport}, {"event", "data"},
// {"done": transport}) for crates/api/tests/socketio.rs to check; exits 1 on an error or
// after 20 s.
import { io } from 'socket.io-client';

const [url, jobId, wanted, only] = process.argv.slice(2);
if (!url || !jobId || !wanted) {
  console.error('usage: node client.mjs <url> <job_id> <count> [polling|websocket]');
  process.exit(2);
}
const print = (value) => process.stdout.write(JSON.stringify(value) + '\n');

// Without options, as the seed does: long-polling first, then the upgrade to WebSocket.
const socket = only ? io(url, { transports: [only] }) : io(url);
const timer = setTimeout(() => {
  console.error(`timed out: fewer than ${wanted} job:${jobId} events in 20 s`);
  process.exit(1);
}, 20_000);

// Every event, other jobs' included, so the test can see what is broadcast.
socket.onAny((event, ...args) => print({ event, data: args.length === 1 ? args[0] : args }));

let seen = 0;
socket.on(`job:${jobId}`, () => {
  seen += 1;
  if (seen === Number(wanted)) {
    clearTimeout(timer);
    print({ done: socket.io.engine.transport.name });
    socket.disconnect();
  }
});
socket.on('connect', () => print({ connected: socket.io.engine.transport.name }));
socket.on('connect_error', (error) => {
  console.error(`connect_error: ${error.message}`);
  process.exit(1);
});
