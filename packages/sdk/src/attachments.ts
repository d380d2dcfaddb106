import type { Transport } from './transport.ts';
import type { AttachmentType, UploadedAttachment } from './types.ts';

// A file uploaded to Meta once (its Attachment Upload API, through igdm), then sent by its id:
// `messages.send({ to, content: { type: 'image', image: { attachmentId } } })`.

export interface UploadRequest {
  /** The channel that will send it; default: the only one the key sees, else `default`. */
  channelId?: string;
  type: AttachmentType;
  /** The file: a Blob (a browser's File) or its bytes. */
  file: Blob | Uint8Array;
  /** The name the customer sees (for a file). */
  filename?: string;
  /** Its MIME type; default: the Blob's type, else application/octet-stream. */
  contentType?: string;
}

export class Attachments {
  readonly #t: Transport;
  constructor(t: Transport) {
    this.#t = t;
  }

  /**
   * Uploads the file. Throws IgdmError 413 `body_too_large` past Meta's cap (8 MB for an image,
   * 25 MB otherwise), 400 for a type or Content-Type that do not match, and 502 when Meta refuses it.
   */
  upload(request: UploadRequest): Promise<UploadedAttachment> {
    const { channelId, type, file, filename } = request;
    const blobType = typeof Blob !== 'undefined' && file instanceof Blob ? file.type : '';
    const contentType = request.contentType ?? (blobType || 'application/octet-stream');
    return this.#t.request({
      method: 'POST',
      path: '/v1/attachments',
      query: { channelId, type, filename },
      bytes: { data: file, contentType },
    });
  }
}
