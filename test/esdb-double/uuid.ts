import { shared, type UUID } from './protocol.js';

const UUID_TEXT = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A UUID message as text, lower case as the server prints a Guid; undefined when malformed. */
export function uuidText(uuid: UUID | undefined): string | undefined {
  if (!uuid) return undefined;
  if (uuid.hasStructured()) {
    const structured = uuid.getStructured();
    if (!structured) return undefined;
    const hex = [structured.getMostSignificantBits(), structured.getLeastSignificantBits()]
      .map((half) => BigInt.asUintN(64, BigInt(half)).toString(16).padStart(16, '0'))
      .join('');
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }
  const text = uuid.getString().toLowerCase();
  return UUID_TEXT.test(text) ? text : undefined;
}

/**
 * A UUID message in the form the reader asked for: the client asks for text; the structured form
 * holds the two big-endian halves as signed 64-bit numbers, as .NET's `long` prints them.
 */
export function uuidMessage(text: string, structured: boolean): UUID {
  const uuid = new shared.UUID();
  if (!structured) return uuid.setString(text);
  const hex = text.replace(/-/g, '');
  const half = (digits: string) => BigInt.asIntN(64, BigInt('0x' + digits)).toString();
  return uuid.setStructured(
    new shared.UUID.Structured().setMostSignificantBits(half(hex.slice(0, 16))).setLeastSignificantBits(half(hex.slice(16))),
  );
}
