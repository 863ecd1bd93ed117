import { STATUS_CODES, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { problemOf, type ProblemCode } from './problem-catalog.js';

const CODES: Record<string, ProblemCode> = {
  ERR_HTTP_REQUEST_TIMEOUT: 'REQUEST.TIMEOUT',
  HPE_HEADER_OVERFLOW: 'REQUEST.HEADERS_TOO_LARGE',
  HPE_CHUNK_EXTENSIONS_OVERFLOW: 'REQUEST.TOO_LARGE',
};

const DETAILS: Partial<Record<ProblemCode, string>> = {
  'REQUEST.TIMEOUT': 'The request did not arrive in time; send it again, at once',
  'REQUEST.HEADERS_TOO_LARGE': 'The request headers are too large',
  'REQUEST.TOO_LARGE': 'A chunk extension is too large',
};

/**
 * What Node answers on its own, before express sees a request (a request or its headers too slow,
 * headers too large, a request it cannot parse), as problem+json with a code like every other
 * answer. As Node's own handler: nothing is written once a response has begun, and the connection
 * closes.
 */
export function answerClientErrors(server: Server): void {
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    const response = (socket as Duplex & { _httpMessage?: ServerResponse })._httpMessage;
    if (error.code !== 'ECONNRESET' && socket.writable && !response?.headersSent) socket.write(rawProblem(CODES[error.code ?? ''] ?? 'REQUEST.MALFORMED'));
    socket.destroy(error);
  });
}

function rawProblem(code: ProblemCode): string {
  const problem = problemOf(code, DETAILS[code] ?? 'The request is not valid HTTP');
  const body = JSON.stringify(problem);
  return [
    `HTTP/1.1 ${problem.status} ${STATUS_CODES[problem.status]}`,
    'Content-Type: application/problem+json',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Connection: close',
    '',
    body,
  ].join('\r\n');
}
