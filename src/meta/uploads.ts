// Meta's Attachment Upload API for Instagram messaging: a file sent once to
// `POST /{page-id}/message_attachments` (multipart: `platform=instagram`, `message` with the
// attachment's type and `is_reusable`, the bytes as `filedata`) answers `{"attachment_id"}`, which
// a send then names instead of a URL. The sizes and formats are Meta's ("Upload Media for Instagram
// Messaging", developers.facebook.com/docs/messenger-platform/instagram/features/attachment-upload);
// Meta's own MB taken as MiB.

export const UPLOAD_TYPES = ['image', 'video', 'audio', 'file'] as const;
export type UploadType = (typeof UPLOAD_TYPES)[number];

const MiB = 1024 * 1024;

/** The largest file Meta takes, by type: 8 MB for images, 25 MB for the others. */
export const MAX_UPLOAD_BYTES: Record<UploadType, number> = {
  image: 8 * MiB,
  video: 25 * MiB,
  audio: 25 * MiB,
  file: 25 * MiB,
};

/**
 * The formats Meta lists, as MIME types: png, jpeg, gif images; mp4, ogg, avi, mov, webm video;
 * aac, m4a, wav, mp4 audio; pdf files.
 */
export const UPLOAD_FORMATS: Record<UploadType, readonly string[]> = {
  image: ['image/png', 'image/jpeg', 'image/gif'],
  video: ['video/mp4', 'video/ogg', 'video/x-msvideo', 'video/avi', 'video/quicktime', 'video/webm'],
  audio: [
    'audio/aac',
    'audio/mp4',
    'audio/m4a',
    'audio/x-m4a',
    'audio/wav',
    'audio/x-wav',
    'audio/wave',
    'audio/vnd.wave',
  ],
  file: ['application/pdf'],
};

export const isUploadType = (t: unknown): t is UploadType => UPLOAD_TYPES.includes(t as UploadType);

/** A Content-Type's media type alone, lower-cased: `image/png; x=y` → `image/png`. */
export const mediaTypeOf = (contentType: string) => contentType.split(';')[0]!.trim().toLowerCase();
