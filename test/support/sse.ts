// Reading GET /v1/events as a client does: the body's frames (blank-line separated), field by field.

/** One server-sent event's fields, as text. */
export interface SseFrame {
  id?: string;
  event?: string;
  data?: string;
}

/** The frames of an event stream's body as they arrive; ends with the body, throws when aborted. */
export async function* sseFrames(body: ReadableStream<Uint8Array>): AsyncGenerator<SseFrame> {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
      const lines = buffer.slice(0, end).split('\n');
      buffer = buffer.slice(end + 2);
      const field = (name: string) => lines.find((l) => l.startsWith(`${name}: `))?.slice(name.length + 2);
      yield { id: field('id'), event: field('event'), data: field('data') };
    }
  }
}
