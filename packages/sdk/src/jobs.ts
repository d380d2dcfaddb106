import { seg, type Transport } from './transport.ts';
import type { Job, JobPage, JobStatus } from './types.ts';

// The queue's jobs (an admin key's): what the engine did with each event, and the dead letters.

export interface JobFilter {
  status?: JobStatus;
  queue?: string;
  conversationId?: string;
  limit?: number;
  cursor?: string;
}

export class Jobs {
  readonly #t: Transport;
  constructor(t: Transport) {
    this.#t = t;
  }

  /** Newest first, with the count of jobs in each status. */
  list(filter: JobFilter = {}): Promise<JobPage> {
    return this.#t.request({ method: 'GET', path: '/v1/jobs', query: { ...filter } });
  }

  get(id: number): Promise<Job> {
    return this.#t.request({ method: 'GET', path: `/v1/jobs/${seg(id)}` });
  }

  /** Runs a dead job again (409 `job_not_dead` for one that is not). */
  retry(id: number): Promise<Job> {
    return this.#t.request({ method: 'POST', path: `/v1/jobs/${seg(id)}/retry` });
  }
}
