import { randomBase62 } from '../customers/api-keys';

/**
 * Object ids that sort by creation time: a prefix, 9 base36 characters of milliseconds since 1970
 * (enough until the year 5188), then 16 random base62 characters (95 bits). Sorted keys make
 * DynamoDB list them in creation order, which is OpenAI's `order` and `after` pagination, with no
 * index on time.
 */
export function timeOrderedId(prefix: string, now: Date = new Date()): string {
  return `${prefix}${now.getTime().toString(36).padStart(9, '0')}${randomBase62(16)}`;
}

/** `file-...` as OpenAI names files. */
export const newFileId = (now?: Date) => timeOrderedId('file-', now);
/** `upload_...` as OpenAI names uploads. */
export const newUploadId = (now?: Date) => timeOrderedId('upload_', now);
/** `part_...` as OpenAI names upload parts. */
export const newPartId = (now?: Date) => timeOrderedId('part_', now);

/** Ids come from URLs: anything but these characters cannot be one of ours (and must not reach a key). */
export const isWellFormedId = (prefix: string, id: string) =>
  id.startsWith(prefix) && /^[A-Za-z0-9_-]{1,80}$/.test(id);
