import type { FastifyRequest } from 'fastify'

/** An answer other than 200 with its sentence: the console's error handler sends it as {"error": ...}. */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message)
  }
}

/** Who asks: set by the login's hook for every API route but the login itself; a 401 if not (never a guess). */
export function accountOf(request: FastifyRequest): NonNullable<FastifyRequest['account']> {
  if (!request.account) throw new HttpError(401, 'log in first, or give a token (Authorization: Bearer NAME.SECRET).')
  return request.account
}
