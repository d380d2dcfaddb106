import type { FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { type ApiError, errors } from './errors.ts';

// A request its route's schema refused, as the catalog's error: a bad querystring is
// `invalid_query`, a bad body or path `invalid_request` (400), unless the route names another
// entry in its config (`invalidInput`), as the ice breakers do (422). The message is zod's, as
// z.prettifyError writes it.

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The catalog entry for input this route's schema refuses, if not the default. */
    invalidInput?: (message: string) => ApiError;
  }
}

type Validation = { instancePath: string; message?: string; keyword: string; params: object };

/** The issues back as zod had them (the type provider keeps each one's fields but flattens its path). */
function prettify(validation: readonly Validation[]): string {
  const issues = validation.map((v) => ({
    ...v.params,
    code: v.keyword,
    message: v.message ?? 'invalid',
    path: v.instancePath
      .split('/')
      .slice(1)
      .filter((s) => s !== '')
      .map((s) => (/^\d+$/.test(s) ? Number(s) : s)),
  }));
  return z.prettifyError(new z.ZodError(issues as z.core.$ZodIssue[]));
}

/** The catalog's answer to a schema's refusal, or undefined for any other error. */
export function inputError(err: unknown, req: FastifyRequest): ApiError | undefined {
  if (!hasZodFastifySchemaValidationErrors(err)) return undefined;
  const context = (err as { validationContext?: string }).validationContext;
  const message = prettify(err.validation);
  const entry =
    req.routeOptions.config.invalidInput ??
    (context === 'querystring' ? errors.invalidQuery : errors.invalidRequest);
  return entry(message);
}
