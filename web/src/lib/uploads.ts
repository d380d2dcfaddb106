import type { AttachmentType } from '@igdm/sdk';

// A file from the agent's computer: the kind Instagram sends it as, and, for this session, a local
// preview of what was uploaded (Meta's attachment id alone shows nothing).

export function attachmentTypeOf(file: { type: string }): AttachmentType {
  if (file.type.startsWith('image/')) return 'image';
  if (file.type.startsWith('video/')) return 'video';
  if (file.type.startsWith('audio/')) return 'audio';
  return 'file';
}

const previews = new Map<string, { url: string; name: string }>();

export function rememberUpload(attachmentId: string, file: File) {
  previews.set(attachmentId, { url: URL.createObjectURL(file), name: file.name });
}

/** The local copy of an uploaded attachment, while this page lives. */
export const uploadPreview = (attachmentId: string | undefined) =>
  attachmentId ? previews.get(attachmentId) : undefined;
