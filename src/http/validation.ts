import { zValidator } from '@hono/zod-validator';
import type { ValidationTargets } from 'hono';
import type { z } from 'zod';
import { problems, type FieldError } from './problem.ts';

export function zodIssues(error: z.ZodError): FieldError[] {
  return error.issues.map((i) => ({ path: i.path.map(String).join('.') || '(root)', message: i.message }));
}

/**
 * The one validator hook: query, path and header problems are 400 naming the
 * parameter; a JSON body that parses but breaks the schema is 422.
 */
export function validate<T extends z.ZodType, Target extends keyof ValidationTargets>(target: Target, schema: T) {
  return zValidator(target, schema, (result) => {
    if (result.success) return;
    const errors = zodIssues(result.error as unknown as z.ZodError);
    if (target === 'json') throw problems.unprocessable('the request body does not match the schema', errors);
    const where = target === 'param' ? 'path parameter' : target === 'query' ? 'query parameter' : target;
    throw problems.badRequest(
      `invalid ${where}${errors.length > 1 ? 's' : ''}: ${errors.map((e) => `${e.path} (${e.message})`).join('; ')}`,
      errors,
    );
  });
}
