// Typings of dfns-hsm-signer (hand-written; the package is plain CommonJS, no build step).
//
// The challenge and assertion types below are structural copies of @dfns/sdk's
// `UserActionChallenge` and `KeyAssertion`, so that this package needs no dependency:
// `HsmRemoteSigner` is assignable to @dfns/sdk's `CredentialSigner`. No @types/node needed either
// (Buffer is a Uint8Array).

/** The user-action challenge (the `/auth/action/init` response) as @dfns/sdk hands it to a signer. */
export interface UserActionChallenge {
  challenge: string;
  challengeIdentifier: string;
  allowCredentials: {
    key: { type: 'public-key'; id: string }[];
    webauthn: { type: 'public-key'; id: string }[];
    passwordProtectedKey?: { type: 'public-key'; id: string; encryptedPrivateKey: string }[];
  };
  supportedCredentialKinds?: { kind: string; factor: string; requiresSecondFactor: boolean }[];
  rp?: { id: string; name: string };
  externalAuthenticationUrl?: string;
  userVerification?: string;
  [field: string]: unknown;
}

/** The firstFactor the service answers (clientData and signature base64url). */
export interface KeyAssertion {
  kind: 'Key';
  credentialAssertion: {
    credId: string;
    clientData: string;
    signature: string;
    algorithm?: string;
  };
}

interface CommonOptions {
  /** Sent as `X-Dfns-Hsm-Identity`: sign only with this identity (its name, or cred id for flag identities). */
  identity?: string;
  /** Deadline for one sign request, connection included. Default 10000. */
  timeoutMs?: number;
}

export interface HsmRemoteSignerSocketOptions extends CommonOptions {
  /** The unix socket of `dfns-hsm serve` (`--listen unix:PATH`). */
  socketPath: string;
  /** Optional on a unix socket: selects the `[[client]]` entry with this token. */
  token?: string;
  url?: never;
}

export interface HsmRemoteSignerUrlOptions extends CommonOptions {
  /** Base URL of the service over TCP: `http://127.0.0.1:8700` or `https://signer.internal:8700`. */
  url: string;
  /** Client bearer token (the service requires one on TCP). */
  token?: string;
  socketPath?: never;
  /** https only: CA certificate(s) to trust for the service's certificate. */
  ca?: string | Uint8Array | Array<string | Uint8Array>;
  /** https only: client certificate, when the service requires one (`tls_client_ca`). */
  cert?: string | Uint8Array;
  /** https only: the client certificate's private key. */
  key?: string | Uint8Array;
}

export type HsmRemoteSignerOptions = HsmRemoteSignerSocketOptions | HsmRemoteSignerUrlOptions;

/** A @dfns/sdk `CredentialSigner` that signs with a key on the HSM behind `dfns-hsm serve`. */
export declare class HsmRemoteSigner {
  constructor(options: HsmRemoteSignerOptions);
  /** `unix:PATH` or the service's base URL. */
  readonly endpoint: string;
  /** Sign the challenge with the HSM key of one of its allowed credentials. */
  sign(challenge: UserActionChallenge): Promise<KeyAssertion>;
  /** Close idle kept-alive connections. */
  close(): void;
}

/** Every error HsmRemoteSigner raises. */
export declare class HsmSignerError extends Error {
  /** `unix:PATH` or the service URL. */
  readonly endpoint?: string;
}

/** The service could not be reached (no socket, refused, reset, TLS failure). */
export declare class HsmUnreachableError extends HsmSignerError {
  /** ENOENT, ECONNREFUSED, EACCES, ... */
  readonly code?: string;
}

/** No complete answer within `timeoutMs`. */
export declare class HsmTimeoutError extends HsmSignerError {
  readonly timeoutMs?: number;
}

/** The service answered an error status. */
export declare class HsmServiceError extends HsmSignerError {
  readonly status: number;
  /** The service's error code: bad_request, unauthorized, forbidden, payload_too_large, hsm_unavailable, ... */
  readonly code?: string;
  /** The service's own error message. */
  readonly serviceMessage?: string;
  /** The response body (parsed when JSON). */
  readonly body?: unknown;
}

/** 401: missing or wrong client token. */
export declare class HsmUnauthorizedError extends HsmServiceError {}

/** 403: no usable identity for this client and challenge. */
export declare class HsmForbiddenError extends HsmServiceError {}

/** 503: the HSM is unusable right now. */
export declare class HsmUnavailableError extends HsmServiceError {
  /** From the Retry-After header. */
  readonly retryAfterSeconds?: number;
}

/** A 200 answer that is not a Key assertion. */
export declare class HsmProtocolError extends HsmSignerError {}
