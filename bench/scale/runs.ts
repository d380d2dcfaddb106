// One configuration's run, on a fresh store: the customers write first; the fixed rate; the search
// for the highest rate held within the p99 limit; the check that every event got exactly one reply;
// then ingest at saturation (last: its events leave a backlog no later phase should meet).
import path from 'node:path';
import pg from 'pg';
import { drive, Events, type Phase } from '../e2e/load.ts';
import { APP_SECRET, HOST, sleep } from '../e2e/options.ts';
import { drain, type Figures, figures, ReplyFollower } from '../e2e/replies.ts';
import { Setup } from '../e2e/setup.ts';
import { STAGES_SQL, type StageRow, type Stages, stages, stagesOf } from '../e2e/stages.ts';
import { loadAverage } from '../e2e/stats.ts';
import { WebhookFeed } from '../ingest/payloads.ts';
import { runRawLoad } from '../ingest/raw-load.ts';
import { stopChild } from '../support.ts';
import { CpuSampler, type WindowCpu } from './cpu.ts';
import { type Limit, limitOf } from './limits.ts';
import { type Configuration, log, options } from './options.ts';
import { ScaleSystem } from './system.ts';

/** CPU-seconds per 1000 events: igdm's processes, the database's backends, both; the server's background apart. */
export interface PerThousand {
  igdm: number;
  postgres: number;
  sum: number;
  pgBackground: number;
}

export interface RatePhase {
  rate: number;
  figures: Figures;
  cpu: WindowCpu;
  per1000: PerThousand;
  holds: boolean;
  why: string[];
  stages?: Stages;
}

export interface IngestResult {
  seconds: number;
  connections: number;
  ok: number;
  failed: number;
  /** Acknowledged (2xx) webhooks per second. */
  ackPerSec: number;
  ackMs: { p50: number; p90: number; p99: number; max: number; mean: number };
  cpu: WindowCpu;
  /** Per 1000 acknowledged webhooks (the projection and the engine working behind included). */
  per1000: PerThousand;
  limit: Limit;
}

export interface Accounting {
  events: number;
  acknowledged: number;
  /** Acknowledged events with exactly one reply at the sandbox. */
  answeredOnce: number;
  /** Replies the sandbox received for the run's events, all counted. */
  replies: number;
  lost: number;
  duplicated: number;
  notAcknowledged: number;
  follower: ReturnType<ReplyFollower['counts']>;
}

export interface ConfigurationResult {
  configuration: Configuration;
  /** Which round of BENCH_SCALE_ROUNDS (1-based). */
  round: number;
  ok: boolean;
  errors: string[];
  database?: string;
  fixed?: RatePhase;
  steps: RatePhase[];
  /** The highest rate that held (p99 within the limit, every reply in time). */
  maxSustained?: number;
  /** Every step held up to BENCH_SCALE_SEARCH_MAX: the figure is a lower bound. */
  reachedMax?: boolean;
  /** What limits the rate: read at the first step that did not hold above the highest held. */
  limit?: Limit;
  accounting?: Accounting;
  ingest?: IngestResult;
  peakRssMB?: number;
  /** CPU with no events coming, after the customers' first messages were handled. */
  idle?: WindowCpu;
  loadBefore: string;
  loadAfter?: string;
}

const igsidList = (count: number): string[] =>
  Array.from({ length: count }, (_, i) => String(9_100_000_000_000_000 + i * 7919));

const round = (v: number, digits = 3) => Number(v.toFixed(digits));

function perThousand(cpu: WindowCpu, count: number): PerThousand {
  const per = (s: number) => round((s / count) * 1000);
  return {
    igdm: per(cpu.igdm),
    postgres: per(cpu.pgBackends),
    sum: per(cpu.igdm + cpu.pgBackends),
    pgBackground: per(cpu.pgBackground),
  };
}

/** Why a rate does not hold (nothing: it holds). */
function shortfalls(f: Figures, rate: number): string[] {
  const why: string[] = [];
  if (!(f.e2eMs.p99 <= options.p99LimitMs)) why.push(`p99 ${f.e2eMs.p99} ms > ${options.p99LimitMs}`);
  if (!(f.replyRate >= 0.97 * rate)) why.push(`replies ${f.replyRate}/s < 97 % of ${rate}/s`);
  if (f.lost > 0) why.push(`${f.lost} lost`);
  if (f.late > 0) why.push(`${f.late} unanswered when the drain was cut`);
  if (f.duplicated > 0) why.push(`${f.duplicated} duplicated`);
  if (f.ackFailed > 0) why.push(`${f.ackFailed} not acknowledged`);
  if (f.sendRate < 0.97 * rate) why.push(`generator reached only ${f.sendRate}/s`);
  return why;
}

class Run {
  readonly setup: Setup;
  readonly system: ScaleSystem;
  readonly sampler: CpuSampler;
  readonly events = new Events();
  readonly igsids = igsidList(options.conversations);
  readonly follower: ReplyFollower;
  readonly phases: { phase: Phase; result: RatePhase }[] = [];

  constructor(setup: Setup) {
    this.setup = setup;
    this.system = setup.system as ScaleSystem;
    this.sampler = new CpuSampler(
      () => this.system.cpuProcesses(),
      () => setup.sandbox.process.pid,
      this.system.database?.name ?? null,
    );
    this.follower = new ReplyFollower(
      setup.sandboxUrl,
      this.events,
      (n) => this.igsids[n % this.igsids.length]!,
    );
  }

  async ratePhase(name: string, rate: number, warmupS: number, seconds: number): Promise<RatePhase> {
    log(`${name}: ${rate}/s for ${warmupS} + ${seconds} s (load ${loadAverage()})`);
    const phase = await drive(this.setup, this.events, this.igsids, rate, warmupS, seconds);
    const { cut } = await drain(this.setup, this.events, phase);
    await sleep(200);
    const f = figures(this.setup, this.events, phase, cut);
    if (cut) {
      // The next phase must not meet this one's backlog: wait for it (the events stay counted as late here).
      log(`${name}: waiting for the backlog before the next phase`);
      await drain(this.setup, this.events, phase, 600);
    }
    const cpu = this.sampler.window(f.usage.fromMs, f.usage.toMs);
    const why = shortfalls(f, rate);
    const result: RatePhase = {
      rate,
      figures: f,
      cpu,
      per1000: perThousand(cpu, f.windowReplies),
      holds: why.length === 0,
      why,
    };
    this.phases.push({ phase, result });
    log(
      `${name}: ${rate}/s → p50 ${f.e2eMs.p50} / p99 ${f.e2eMs.p99} ms, replies ${f.replyRate}/s, ` +
        `CPU-s/1000 igdm ${result.per1000.igdm} + PostgreSQL ${result.per1000.postgres}: ` +
        (result.holds ? 'holds' : why.join('; ')),
    );
    return result;
  }

  /** The rates up from the start by the factor until one fails (or down until one holds), then halfway until within 20 %. */
  async search(result: ConfigurationResult): Promise<void> {
    const tried = new Map<number, boolean>();
    const step = async (rate: number) => {
      let holds = tried.get(rate);
      if (holds === undefined) {
        const r = await this.ratePhase(`${result.configuration.name} search`, rate, 2, options.stepS);
        result.steps.push(r);
        holds = r.holds;
        tried.set(rate, holds);
        await sleep(1000);
      }
      return holds;
    };
    if (result.fixed !== undefined && options.searchStart === options.rate)
      tried.set(options.rate, result.fixed.holds);
    const f = options.searchFactor;
    let held: number | undefined;
    let failed: number | undefined;
    let rate = options.searchStart;
    if (await step(rate)) {
      held = rate;
      for (rate = Math.round(rate * f); rate <= options.searchMax; rate = Math.round(rate * f)) {
        if (!(await step(rate))) {
          failed = rate;
          break;
        }
        held = rate;
      }
    } else {
      failed = rate;
      // Down by the factor, or straight to 90 % of the replies per second a failing step managed.
      const down = (r: number) => {
        const managed = this.phases.findLast((p) => p.result.rate === r)?.result.figures.replyRate ?? r;
        return Math.round(Math.min(r / f, 0.9 * managed));
      };
      for (rate = down(rate); rate >= 5; rate = down(rate)) {
        if (await step(rate)) {
          held = rate;
          break;
        }
        failed = rate;
      }
    }
    // Halfway until the two are within 20 %: with steps of 1.5 ×, twice (1.22 ×, then 1.11 ×).
    while (held !== undefined && failed !== undefined && failed / held > 1.2) {
      const mid = Math.round(Math.sqrt(held * failed));
      if (mid <= held || mid >= failed) break; // rates a step apart (below 5/s)
      if (await step(mid)) held = mid;
      else failed = mid;
    }
    result.maxSustained = held;
    result.reachedMax = failed === undefined;
    this.limitRate = failed ?? held;
  }

  /** The rate whose phase says what limits: the lowest that failed above the highest held. */
  limitRate: number | undefined;

  /** What limits, from the last phase at the limiting rate (its stages read once igdm stopped). */
  limit(): Limit | undefined {
    const at = this.phases.findLast((p) => p.result.rate === this.limitRate)?.result;
    return at === undefined ? undefined : limitOf(at.cpu, this.system.configuration, at.stages, at.rate);
  }

  /** Every event of the run answered exactly once, counted from the sandbox's journal. */
  async account(): Promise<Accounting> {
    const total = this.events.sentAt.length;
    const whole = {
      rate: 1,
      from: 0,
      measuredFrom: 0,
      to: total,
      generatorLag: 0,
      usage: undefined as never,
    };
    await drain(this.setup, this.events, whole, 600); // lost: no reply for BENCH_E2E_DRAIN s
    await sleep(500);
    await this.follower.stop();
    const e = this.events;
    const a: Accounting = {
      events: total,
      acknowledged: 0,
      answeredOnce: 0,
      replies: 0,
      lost: 0,
      duplicated: 0,
      notAcknowledged: 0,
      follower: this.follower.counts(),
    };
    for (let n = 0; n < total; n++) {
      const acked = e.status[n]! >= 200 && e.status[n]! < 300;
      const replies = e.replies[n] ?? 0;
      a.replies += replies;
      if (!acked) a.notAcknowledged++;
      else a.acknowledged++;
      if (replies === 1 && acked) a.answeredOnce++;
      if (replies === 0 && acked) a.lost++;
      if (replies > 1) a.duplicated += replies - 1;
    }
    return a;
  }

  async ingest(feed: WebhookFeed, result: ConfigurationResult): Promise<IngestResult> {
    feed.rewind();
    log(
      `${result.configuration.name} ingest: closed loop, ${options.ingestConnections} connections, ` +
        `${options.ingestWarmupS} + ${options.ingestS} s (load ${loadAverage()})`,
    );
    const startedAt = Date.now();
    const measuredFrom = startedAt + options.ingestWarmupS * 1000;
    const r = await runRawLoad({
      host: HOST,
      port: this.system.port,
      path: '/webhooks/meta',
      durationS: options.ingestS,
      warmupS: options.ingestWarmupS,
      connections: options.ingestConnections,
      next: () => feed.take(),
    });
    const cpu = this.sampler.window(measuredFrom, Date.now());
    const ingest: IngestResult = {
      seconds: r.durationS,
      connections: options.ingestConnections,
      ok: r.ok,
      failed: r.non2xx + r.errors + r.timeouts,
      ackPerSec: round(r.ok / r.durationS, 1),
      ackMs: r.latencyMs,
      cpu,
      per1000: perThousand(cpu, r.ok),
      limit: limitOf(cpu, result.configuration),
    };
    log(
      `${result.configuration.name} ingest: ${ingest.ackPerSec}/s acknowledged, p99 ${r.latencyMs.p99.toFixed(1)} ms, ` +
        `${ingest.failed} failed; ${ingest.limit.summary}`,
    );
    return ingest;
  }

  /** Each rate phase's stages (where the time went), from the store, once igdm has stopped. */
  async readStages(): Promise<void> {
    const db = this.system.database;
    try {
      let rows: StageRow[] | undefined;
      if (db !== null) {
        const client = new pg.Client({ connectionString: db.url });
        await client.connect();
        try {
          rows = (await client.query<StageRow>(STAGES_SQL)).rows;
        } finally {
          await client.end();
        }
      }
      for (const { phase, result } of this.phases)
        result.stages =
          rows !== undefined
            ? stagesOf(rows, this.events, phase)
            : stages(path.join(this.system.dir, 'igdm.sqlite'), this.events, phase);
    } catch (error) {
      log(`stages: ${(error as Error).message}`);
    }
  }
}

export async function runConfiguration(
  configuration: Configuration,
  feed: WebhookFeed,
  round = 1,
): Promise<ConfigurationResult> {
  const result: ConfigurationResult = {
    configuration,
    round,
    ok: false,
    errors: [],
    steps: [],
    loadBefore: loadAverage(),
  };
  let setup: Setup | undefined;
  try {
    setup = await Setup.start(configuration.name, (port, graphUrl) =>
      ScaleSystem.start(configuration, port, graphUrl),
    );
    const run = new Run(setup);
    result.database = run.system.database?.name;
    run.sampler.start();
    try {
      log(`${configuration.name}: ${run.igsids.length} customers write first`);
      await setup.register(run.igsids);
      await sleep(1000);
      const idleFrom = Date.now();
      await sleep(options.idleS * 1000);
      result.idle = run.sampler.window(idleFrom, Date.now());
      run.follower.start(50);
      result.fixed = await run.ratePhase(
        `${configuration.name} fixed`,
        options.rate,
        options.warmupS,
        options.durationS,
      );
      await sleep(1000);
      await run.search(result);
      result.accounting = await run.account();
      const a = result.accounting;
      const f = a.follower;
      if (
        a.lost ||
        a.duplicated ||
        a.notAcknowledged ||
        a.replies !== a.acknowledged ||
        a.answeredOnce !== a.events
      )
        result.errors.push(
          `replies: ${a.events} events, ${a.acknowledged} acknowledged, ${a.answeredOnce} answered once, ` +
            `${a.replies} replies at the sandbox, ${a.lost} lost, ${a.duplicated} duplicated`,
        );
      if (f.gaps || f.strays || f.wrongRecipient || f.refused)
        result.errors.push(
          `the sandbox's journal: ${f.gaps} calls unread, ${f.strays} replies to no event, ` +
            `${f.wrongRecipient} to the wrong customer, ${f.refused} refused`,
        );
      if (options.ingestS > 0) result.ingest = await run.ingest(feed, result);
      if (result.ingest && result.ingest.failed > 0)
        result.errors.push(`ingest: ${result.ingest.failed} webhooks not acknowledged`);
      result.peakRssMB = run.system.rss().peakRssMB;
    } finally {
      run.sampler.stop();
      for (const p of run.system.procs) await stopChild(p.child); // the store complete and closed
      await run.readStages();
      result.limit = run.limit();
    }
  } catch (error) {
    result.errors.push((error as Error).message);
    log(`${configuration.name}: FAILED: ${(error as Error).message}`);
    const output = setup?.system.lastOutput();
    if (output) log(`output (last lines):\n${output}`);
  } finally {
    await setup?.stop().catch((error: Error) => log(`stopping: ${error.message}`));
  }
  result.loadAfter = loadAverage();
  result.ok = result.errors.length === 0;
  return result;
}

export const newFeed = (): WebhookFeed => new WebhookFeed(APP_SECRET);
