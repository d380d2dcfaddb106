// Meta counts a text's limit in UTF-8 bytes, not characters: an emoji takes 4 of the 1000.

export const TEXT_LIMIT_BYTES = 1000;

const encoder = new TextEncoder();

export const utf8Bytes = (text: string) => encoder.encode(text).length;
