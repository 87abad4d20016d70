// HS256 superuser JWTs as ArangoDB uses them between cluster members (node:crypto HMAC; no dependency).
import { createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';

const b64url = (b: Buffer | string): string => Buffer.from(b).toString('base64url');

/** ArangoDB trims whitespace around the secret read from --server.jwt-secret-keyfile. */
export function readJwtSecretFile(path: string): string {
  return readFileSync(path, 'utf8').trim();
}

export function signSuperuserJwt(secret: string, serverId = 'transit-sim', ttlSeconds = 3600): string {
  const now = Math.floor(Date.now() / 1000);
  const header = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const payload = b64url(JSON.stringify({ iss: 'arangodb', server_id: serverId, iat: now, exp: now + ttlSeconds }));
  const sig = createHmac('sha256', secret).update(`${header}.${payload}`).digest();
  return `${header}.${payload}.${b64url(sig)}`;
}

const verified = new Map<string, number>();

/** True for a well-formed, unexpired HS256 token with iss "arangodb" signed with `secret` (results cached). */
export function verifyJwt(token: string, secret: string): boolean {
  const key = `${secret.length}:${secret}:${token}`;
  const until = verified.get(key);
  if (until !== undefined && until > Date.now()) return true;
  const okNow = verifyUncached(token, secret);
  if (okNow) {
    if (verified.size > 1000) verified.clear();
    verified.set(key, Date.now() + 60_000);
  }
  return okNow;
}

function verifyUncached(token: string, secret: string): boolean {
  const parts = token.split('.');
  if (parts.length !== 3) return false;
  try {
    const header = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8')) as { alg?: string };
    if (header.alg !== 'HS256') return false;
    const want = createHmac('sha256', secret).update(`${parts[0]}.${parts[1]}`).digest();
    const got = Buffer.from(parts[2], 'base64url');
    if (got.length !== want.length || !timingSafeEqual(got, want)) return false;
    const claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')) as { iss?: string; exp?: number };
    if (claims.iss !== 'arangodb') return false;
    if (typeof claims.exp === 'number' && claims.exp < Date.now() / 1000) return false;
    return true;
  } catch {
    return false;
  }
}

/** A cached "bearer <jwt>" header value, re-minted before it expires. */
export function bearerHeader(secret: string, serverId: string): () => string {
  let token = '';
  let until = 0;
  return () => {
    const now = Date.now();
    if (now > until) {
      token = signSuperuserJwt(secret, serverId);
      until = now + 30 * 60 * 1000;
    }
    return `bearer ${token}`;
  };
}
