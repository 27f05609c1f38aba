// BullMQ, unchanged, against the server on the given port: jobs added (some delayed, some
// failing before they succeed, one failing for good), processed by a worker, with retries
// and backoff. Prints the outcome as JSON: what each job returned or why it failed, how many
// attempts it took, and the queue's counts at the end.
import { Queue, Worker, QueueEvents } from "bullmq";

const port = Number(process.argv[2]);
const connection = { host: "127.0.0.1", port, maxRetriesPerRequest: null };
const name = "q";

const queue = new Queue(name, { connection });
await queue.obliterate({ force: true }).catch(() => {});
const events = new QueueEvents(name, { connection });
await events.waitUntilReady();

const jobs = [];
for (let i = 0; i < 20; i++) {
  jobs.push({ name: "square", data: { n: i } });
}
jobs.push({ name: "flaky", data: { n: 100, failTimes: 2 }, opts: { attempts: 3, backoff: { type: "fixed", delay: 50 } } });
jobs.push({ name: "doomed", data: { n: 200 }, opts: { attempts: 2, backoff: { type: "exponential", delay: 20 } } });
jobs.push({ name: "later", data: { n: 300 }, opts: { delay: 300 } });
jobs.push({ name: "first", data: { n: 400 }, opts: { priority: 1 } });
const added = await queue.addBulk(jobs);

const expected = added.length;
let settled = 0;
const done = new Promise((resolve) => {
  const tick = () => { settled += 1; if (settled === expected) resolve(); };
  events.on("completed", tick);
  events.on("failed", ({ jobId }) => {
    queue.getJob(jobId).then((j) => { if (j && j.attemptsMade >= (j.opts.attempts || 1)) tick(); });
  });
});

const worker = new Worker(name, async (job) => {
  if (job.name === "doomed") throw new Error("always fails");
  if (job.name === "flaky" && job.attemptsMade < job.data.failTimes) throw new Error("not yet");
  await job.updateProgress(50);
  return job.data.n * job.data.n;
}, { connection, concurrency: 4 });

const timeout = setTimeout(() => { console.error("timed out; settled", settled); process.exit(2); }, 30000);
await done;
clearTimeout(timeout);

const outcome = {};
for (const j of added) {
  const job = await queue.getJob(j.id);
  const state = await job.getState();
  outcome[`${job.name}-${job.data.n}`] = {
    state,
    returned: job.returnvalue,
    failedReason: job.failedReason || null,
    attemptsMade: job.attemptsMade,
    progress: state === "completed" ? job.progress : null,
  };
}
const counts = await queue.getJobCounts("completed", "failed", "waiting", "delayed", "active");
console.log(JSON.stringify({ outcome, counts }));
await worker.close();
await events.close();
await queue.close();
