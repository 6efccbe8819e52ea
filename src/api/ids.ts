import { z } from 'zod';

/**
 * An incident id as the API takes it (path parameter, cursor): the engine's
 * are `inc_` and 20 hex digits. Anything outside this alphabet — a NUL, a
 * control character, a lone surrogate — is refused before the database
 * sees it.
 */
export const IncidentId = z
  .string()
  .regex(/^[A-Za-z0-9_.:~-]{1,200}$/, 'must be an incident id (letters, digits and _ . : ~ -, at most 200), e.g. inc_3f2a9c0d1e2b4a5f6c7d')
  .meta({ description: 'Incident id, e.g. inc_3f2a…' });
