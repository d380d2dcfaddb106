import { type Conversation, type Igdm, IgdmError } from '@igdm/sdk';
import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { createRef } from 'react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { composerMode, windowOf } from '../lib/window.ts';
import { Composer } from './Composer.tsx';

// The composer in each stage of Meta's window: what it sends, what it says, and igdm's refusals.

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const NOW = Date.UTC(2026, 11, 6, 12);
const iso = (t: number) => new Date(t).toISOString();

function conversation(lastInbound: number | null): Conversation {
  return {
    id: 'cnv_1',
    channelId: 'default',
    igsid: '1784',
    contact: { id: 'ct_1', username: 'ana', name: 'Ana', profilePic: null },
    status: 'open',
    threadOwner: 'bot',
    intent: null,
    tags: [],
    lastInboundAt: lastInbound === null ? null : iso(lastInbound),
    lastMessageAt: null,
    windowClosesAt: lastInbound === null ? null : iso(lastInbound + DAY),
    windowOpen: lastInbound !== null && lastInbound + DAY > NOW,
    humanWindowClosesAt: lastInbound === null ? null : iso(lastInbound + 7 * DAY),
    assignee: null,
    source: null,
    unread: 0,
    notesCount: 0,
    lastMessage: null,
    createdAt: null,
    updatedAt: null,
  };
}

const SAVED = [
  {
    id: 'sr_1',
    shortcut: 'hours',
    text: 'We are open 9 to 6, Monday to Saturday.',
    createdAt: '',
    updatedAt: '',
  },
  {
    id: 'sr_2',
    shortcut: 'shipping',
    text: 'We ship everywhere in Europe in 3 days.',
    createdAt: '',
    updatedAt: '',
  },
];

function setup(lastInbound: number | null, send = vi.fn(async () => ({ id: 'msg_1', status: 'queued' }))) {
  const c = conversation(lastInbound);
  const upload = vi.fn(async () => ({ attachmentId: 'att_1', type: 'image', size: 3 }));
  const client = {
    messages: { send },
    savedReplies: { list: async () => SAVED, create: vi.fn() },
    attachments: { upload },
  } as unknown as Igdm;
  const onSent = vi.fn();
  render(
    <Composer
      client={client}
      conversation={c}
      mode={composerMode(windowOf(c, NOW))}
      onSent={onSent}
      inputRef={createRef()}
    />,
  );
  return { send, upload, onSent, box: screen.getByLabelText('Reply') as HTMLTextAreaElement };
}

afterEach(cleanup);

describe('Composer', () => {
  it('sends a plain reply within 24 hours', async () => {
    const { send, onSent, box } = setup(NOW - HOUR);
    expect(screen.queryByRole('status')).toBeNull();
    fireEvent.change(box, { target: { value: 'Hi Ana!' } });
    fireEvent.click(screen.getByRole('button', { name: 'Send' }));
    await waitFor(() => expect(onSent).toHaveBeenCalled());
    expect(send).toHaveBeenCalledWith({
      channelId: 'default',
      to: '1784',
      content: { type: 'text', text: 'Hi Ana!' },
    });
    expect(box.value).toBe('');
  });

  it("switches to a human agent's reply after 24 hours, and says so", async () => {
    const { send, box } = setup(NOW - 2 * DAY);
    expect(screen.getByRole('status').textContent).toContain('HUMAN_AGENT');
    fireEvent.change(box, { target: { value: 'Sorry for the wait' } });
    fireEvent.keyDown(box, { key: 'Enter' });
    await waitFor(() => expect(send).toHaveBeenCalled());
    expect(send).toHaveBeenCalledWith(expect.objectContaining({ humanAgent: true }));
    expect(screen.getByRole('button', { name: 'Send as agent' })).toBeTruthy();
  });

  it('is disabled after 7 days, with the reason', () => {
    const { box } = setup(NOW - 8 * DAY);
    expect(box.disabled).toBe(true);
    expect(screen.getByRole('status').textContent).toContain('More than 7 days have passed');
    expect((screen.getByRole('button', { name: 'Send a heart sticker' }) as HTMLButtonElement).disabled).toBe(
      true,
    );
  });

  it('counts bytes as Meta does, and will not send past 1000', () => {
    const { send, box } = setup(NOW - HOUR);
    fireEvent.change(box, { target: { value: '🚚'.repeat(250) } });
    expect(screen.getByTestId('byte-counter').textContent).toBe('1000 / 1000 bytes');
    fireEvent.change(box, { target: { value: `${'🚚'.repeat(250)}!` } });
    expect(screen.getByTestId('byte-counter').className).toContain('over');
    expect((screen.getByRole('button', { name: 'Send' }) as HTMLButtonElement).disabled).toBe(true);
    fireEvent.keyDown(box, { key: 'Enter' });
    expect(send).not.toHaveBeenCalled();
  });

  it("shows igdm's refusal in plain words, and keeps the text", async () => {
    const refuse = vi.fn(async () => {
      throw new IgdmError(422, 'outside_window', 'outside_window');
    });
    const { box } = setup(NOW - HOUR, refuse);
    fireEvent.change(box, { target: { value: 'Still there?' } });
    fireEvent.click(screen.getByRole('button', { name: 'Send' }));
    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toContain(
      "The 24-hour window has closed: only a human agent's reply may go now",
    );
    expect(box.value).toBe('Still there?');
  });

  it('sends quick replies, media by URL and the heart sticker', async () => {
    const { send, box } = setup(NOW - HOUR);
    fireEvent.click(screen.getByRole('button', { name: 'Quick replies' }));
    fireEvent.change(screen.getByLabelText('Quick reply title'), { target: { value: 'Shop now' } });
    fireEvent.click(screen.getByRole('button', { name: 'Add' }));
    fireEvent.change(box, { target: { value: 'Pick one' } });
    fireEvent.click(screen.getByRole('button', { name: 'Send' }));
    await waitFor(() => expect(send).toHaveBeenCalledTimes(1));
    expect(send).toHaveBeenLastCalledWith(
      expect.objectContaining({
        content: {
          type: 'text',
          text: 'Pick one',
          quickReplies: [{ title: 'Shop now', payload: 'SHOP_NOW' }],
        },
      }),
    );

    fireEvent.click(screen.getByRole('button', { name: 'Media by URL' }));
    fireEvent.change(screen.getByLabelText('Media kind'), { target: { value: 'video' } });
    fireEvent.change(screen.getByLabelText('Media URL'), { target: { value: 'https://example.com/a.mp4' } });
    fireEvent.click(screen.getByRole('button', { name: 'Send video' }));
    await waitFor(() => expect(send).toHaveBeenCalledTimes(2));
    expect(send).toHaveBeenLastCalledWith(
      expect.objectContaining({ content: { type: 'video', video: { url: 'https://example.com/a.mp4' } } }),
    );

    fireEvent.click(screen.getByRole('button', { name: 'Send a heart sticker' }));
    await waitFor(() => expect(send).toHaveBeenCalledTimes(3));
    expect(send).toHaveBeenLastCalledWith(
      expect.objectContaining({ content: { type: 'sticker', sticker: { id: 'like' } } }),
    );
  });

  it('offers saved replies on #, and puts the one picked in place', async () => {
    const { box } = setup(NOW - HOUR);
    await waitFor(() => expect(screen.queryByRole('listbox')).toBeNull());
    const type = (value: string) => {
      box.setSelectionRange(value.length, value.length);
      fireEvent.change(box, { target: { value, selectionStart: value.length } });
    };
    type('Hi! #sh');
    const options = await screen.findAllByRole('option');
    expect(options.map((o) => o.textContent)).toEqual(['#shipping We ship everywhere in Europe in 3 days.']);
    fireEvent.keyDown(box, { key: 'Enter' });
    expect(box.value).toBe('Hi! We ship everywhere in Europe in 3 days.');
    expect(screen.queryByRole('listbox')).toBeNull();
    type('#');
    expect((await screen.findAllByRole('option')).length).toBe(2);
    fireEvent.keyDown(box, { key: 'ArrowDown' });
    fireEvent.keyDown(box, { key: 'Tab' });
    expect(box.value).toBe('We ship everywhere in Europe in 3 days.');
    // Not a shortcut: a # inside a word.
    type('order#12');
    expect(screen.queryByRole('listbox')).toBeNull();
  });

  it('uploads a file from the computer, then sends it by its attachment id', async () => {
    const { send, upload } = setup(NOW - HOUR);
    const photo = new File([new Uint8Array([1, 2, 3])], 'mug.png', { type: 'image/png' });
    fireEvent.change(screen.getByLabelText('File to send'), { target: { files: [photo] } });
    await waitFor(() => expect(send).toHaveBeenCalled());
    expect(upload).toHaveBeenCalledWith({
      channelId: 'default',
      type: 'image',
      file: photo,
      filename: 'mug.png',
    });
    expect(send).toHaveBeenCalledWith(
      expect.objectContaining({ content: { type: 'image', image: { attachmentId: 'att_1' } } }),
    );
  });
});
