import { z } from 'zod';

/**
 * An incident id as the API takes it (path parameter, cursor): the engine's
 * are `inc_` and 20 hex digits. Anything outside this alphabet — a NUL, a
 * control character, a lone surrogate — is refused before the database
 * sees it.
 */
const ID = /^[A-Za-z0-9_.:~-]{1,200}$/;

export const IncidentId = z
  .string()
  .regex(ID, 'must be an incident id (letters, digits and _ . : ~ -, at most 200), e.g. inc_3f2a9c0d1e2b4a5f6c7d')
  .meta({ description: 'Incident id, e.g. inc_3f2a…' });

/** A maintenance window's id (`mw_…`), checked like an incident's. */
export const WindowId = z
  .string()
  .regex(ID, 'must be a maintenance window id (letters, digits and _ . : ~ -, at most 200), e.g. mw_4c1e…')
  .meta({ description: 'Window id, e.g. mw_4c1e…' });

/**
 * Free text a client sends to be stored (who, a note, a reason): PostgreSQL
 * text cannot hold a NUL character, and other control characters (but tab
 * and line breaks) have no business in it.
 */
export const storable = (s: string) => !/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(s);
export const STORABLE_MESSAGE = 'must not contain control characters (NUL and the like)';
