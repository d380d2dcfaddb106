import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { type ApprovalDeps, createApproval, OutsideWindow } from '../approvals/create.ts';
import { decideApproval } from '../approvals/decide.ts';
import { ApprovalTooLong } from '../approvals/dm.ts';
import { approvalView } from '../approvals/view.ts';
import {
  type Approval as ApprovalRow,
  callbacksOf,
  findApproval,
  listApprovals,
} from '../store/approvals.ts';
import type { Channel } from '../store/channels.ts';
import { sees } from './auth.ts';
import { errors } from './errors.ts';
import { decodeCursor, encodeCursor } from './pages.ts';
import { page } from './schemas.ts';
import { Approval, ApprovalCreated, ApprovalQuery, NewApproval } from './schemas-approvals.ts';

// Human-in-the-loop approvals (src/approvals/): POST /v1/approvals asks a person over DM, GET
// follows it, cancel withdraws it. The answer comes from the approver's DM (the engine), the
// decision goes to the callback and the event stream.

const Params = z.object({ id: z.string().meta({ description: 'apr_…' }) });

export interface ApprovalRouteDeps extends ApprovalDeps {
  channels: () => readonly Channel[];
  now: () => number;
}

export async function approvalRoutes(scope: FastifyInstance, deps: ApprovalRouteDeps) {
  const app = scope.withTypeProvider<ZodTypeProvider>();
  const { db } = deps;
  /** Masked values are opened for admin keys only. */
  const reveal = (req: FastifyRequest) => (req.principal.scopes.has('admin') ? deps.box : null);
  const views = async (req: FastifyRequest, rows: ApprovalRow[]) => {
    const callbacks = await callbacksOf(db, rows);
    return rows.map((a) => approvalView(a, callbacks.get(a.id) ?? null, reveal(req)));
  };
  const visible = async (req: FastifyRequest, id: string) => {
    const a = await findApproval(db, id);
    if (!a || !sees(req, a.channelId)) throw errors.approvalNotFound(id);
    return a;
  };

  app.post(
    '/v1/approvals',
    {
      schema: {
        body: NewApproval,
        response: { 201: ApprovalCreated },
        description:
          'Asks the approver over DM (Approve ✅ / Reject ❌ quick replies). 422 outside_window when the ' +
          "approver's 24-hour window is not open: nothing is sent or stored.",
      },
    },
    async (req, reply) => {
      const { channelId, callbackSecret, ...input } = req.body;
      const channel = deps.channels().find((c) => c.id === channelId);
      if (!channel || !sees(req, channel.id)) throw errors.channelNotFound(channelId);
      try {
        const made = await createApproval(deps, { ...input, channel, callbackSecret }, deps.now());
        const [view] = await views(req, [made.approval]);
        return reply
          .code(201)
          .send({ ...view!, ...(made.callbackSecret && { callbackSecret: made.callbackSecret }) });
      } catch (err) {
        if (err instanceof OutsideWindow) throw errors.approvalOutsideWindow(err.message);
        if (err instanceof ApprovalTooLong) throw errors.approvalTooLong(err.message);
        throw err;
      }
    },
  );

  app.get(
    '/v1/approvals',
    {
      schema: {
        querystring: ApprovalQuery,
        response: { 200: page(Approval) },
        description: 'Newest first.',
      },
    },
    async (req) => {
      const { limit, cursor, ...filter } = req.query;
      const before = cursor === undefined ? undefined : decodeCursor(cursor);
      if (before === null) throw errors.invalidCursor();
      const channels = req.principal.channels;
      const found = await listApprovals(db, {
        ...filter,
        channels: channels && [...channels],
        limit,
        ...(before && { before }),
      });
      const last = found.rows.at(-1);
      return {
        data: await views(req, found.rows),
        nextCursor: found.more && last ? encodeCursor([last.createdAt, last.id]) : null,
      };
    },
  );

  app.get('/v1/approvals/:id', { schema: { params: Params, response: { 200: Approval } } }, async (req) => {
    const [view] = await views(req, [await visible(req, req.params.id)]);
    return view!;
  });

  app.post(
    '/v1/approvals/:id/cancel',
    {
      schema: {
        params: Params,
        body: z.strictObject({}).optional(),
        response: { 200: Approval },
        description: 'Withdraws a pending approval (its callback and `approval.decided` say `cancelled`).',
      },
    },
    async (req) => {
      const a = await visible(req, req.params.id);
      const now = deps.now();
      // Past its time, it is expired (the sweep may not have come by yet), not cancelled.
      const expired = a.status === 'pending' && a.expiresAt <= now;
      const decided = await decideApproval(
        db,
        deps.jobs,
        a.id,
        expired
          ? { status: 'expired', respondedBy: null, respondedAt: null, decidedBy: 'expiry' }
          : { status: 'cancelled', respondedBy: null, respondedAt: null, decidedBy: 'cancel' },
        now,
      );
      if (!decided || expired) {
        const now = await findApproval(db, a.id);
        throw errors.approvalDecided(a.id, now?.status ?? a.status);
      }
      const [view] = await views(req, [decided]);
      return view!;
    },
  );
}
