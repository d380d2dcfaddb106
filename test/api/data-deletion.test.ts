import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signRequest } from '../../src/meta/signed-request.ts';
import {
  APP_SECRET,
  callApi,
  igBody,
  startTestService,
  type TestService,
  textEvent,
} from '../support/service.ts';

// Meta's data deletion request callback: a person removed the app, and Meta POSTs a form with a
// signed_request naming them (user_id: their IGSID). igdm erases their data as DELETE
// /v1/contacts/:id does and answers the confirmation code and a status URL that needs no key. A
// request not signed with the app secret erases nothing.

let svc: TestService;

beforeAll(async () => {
  svc = await startTestService({ PUBLIC_URL: 'https://igdm.example.com/' });
});
afterAll(() => svc?.stop());

/** A customer writes; their contact's id. */
async function customer(igsid: string, text: string): Promise<string> {
  expect((await svc.post(igBody([textEvent(igsid, text)]))).status).toBe(200);
  await svc.settled();
  const contacts = await callApi(svc, 'GET', '/v1/contacts');
  const found = contacts.body.data.find((c: { igsid: string }) => c.igsid === igsid);
  expect(found, `the contact of ${igsid}`).toBeDefined();
  return found.id;
}

const deletionRequest = (signedRequest: string, path = '/meta/data-deletion') =>
  fetch(`${svc.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ signed_request: signedRequest }).toString(),
  });

const payload = (userId: string) => ({
  algorithm: 'HMAC-SHA256',
  expires: 0,
  issued_at: Math.floor(Date.now() / 1000),
  user_id: userId,
});

describe('POST /meta/data-deletion', () => {
  it("erases the person's data and answers the confirmation code and status URL", async () => {
    const leaving = await customer('6100000000000001', 'please forget me later');
    const staying = await customer('6100000000000002', 'I stay');

    const res = await deletionRequest(signRequest(payload('6100000000000001'), APP_SECRET));
    expect(res.status).toBe(200);
    const answer = (await res.json()) as { url: string; confirmation_code: string };
    expect(answer.confirmation_code).toMatch(/^[0-9a-f]{24}$/);
    expect(answer.url).toBe(`https://igdm.example.com/meta/data-deletion/${answer.confirmation_code}`);

    // Gone as with DELETE /v1/contacts/:id; the other customer is untouched.
    expect((await callApi(svc, 'GET', `/v1/contacts/${leaving}`)).status).toBe(404);
    expect((await callApi(svc, 'GET', `/v1/contacts/${staying}`)).status).toBe(200);
    const search = await callApi(svc, 'GET', '/v1/conversations?q=forget');
    expect(search.body.data).toEqual([]);
    const erasure = await callApi(svc, 'DELETE', `/v1/contacts/${leaving}`);
    expect(erasure.body).toMatchObject({ contactId: leaving, counts: { messages: 1, conversations: 1 } });

    // The status page, without a key (on igdm's own address here; PUBLIC_URL in the answer).
    const status = await fetch(`${svc.url}${new URL(answer.url).pathname}`);
    expect(status.status).toBe(200);
    expect(await status.json()).toMatchObject({
      confirmationCode: answer.confirmation_code,
      status: 'completed',
      message: expect.stringMatching(/deleted/),
    });
    expect((await fetch(`${svc.url}/meta/data-deletion/${'0'.repeat(24)}`)).status).toBe(404);
  });

  it('a request for someone igdm never heard of still gets a code (nothing to delete)', async () => {
    const res = await deletionRequest(
      signRequest(payload('6100000000000099'), APP_SECRET),
      '/meta/data-deletion/default',
    );
    expect(res.status).toBe(200);
    const { url } = (await res.json()) as { url: string };
    const status = await (await fetch(`${svc.url}${new URL(url).pathname}`)).json();
    expect(status).toMatchObject({
      status: 'completed',
      message: expect.stringMatching(/nothing to delete/),
    });
  });

  it('a wrongly signed or malformed request erases nothing: 400 with the reason', async () => {
    const contact = await customer('6100000000000003', 'keep my data');
    const cases: [string, RegExp][] = [
      [signRequest(payload('6100000000000003'), 'not-the-app-secret'), /not signed with the app secret/],
      [signRequest({ ...payload('6100000000000003'), algorithm: 'HMAC-SHA1' }, APP_SECRET), /HMAC-SHA256/],
      [signRequest({ algorithm: 'HMAC-SHA256' }, APP_SECRET), /user_id/],
      ['no-dot-here', /signature>\.<payload/],
      [`${signRequest(payload('6100000000000003'), APP_SECRET)}x`, /not signed with the app secret/],
    ];
    for (const [signed, reason] of cases) {
      const res = await deletionRequest(signed);
      expect(res.status, signed).toBe(400);
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe('signed_request_invalid');
      expect(body.error.message).toMatch(reason);
    }
    const missing = await fetch(`${svc.url}/meta/data-deletion`, { method: 'POST' });
    expect(missing.status).toBe(400);
    expect(((await missing.json()) as { error: { message: string } }).error.message).toMatch(/missing/);
    const unknownChannel = await deletionRequest(
      signRequest(payload('6100000000000003'), APP_SECRET),
      '/meta/data-deletion/nope',
    );
    expect(unknownChannel.status).toBe(404);

    expect((await callApi(svc, 'GET', `/v1/contacts/${contact}`)).status).toBe(200);
  });
});
