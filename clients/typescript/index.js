'use strict';
// dfns-hsm-signer: a CredentialSigner for Dfns's TypeScript SDK (@dfns/sdk) whose key stays on an
// HSM. Each `sign(challenge)` hands the user-action challenge to the local `dfns-hsm serve`
// service (`POST /v1/sign`, over a unix socket or HTTP(S)), which signs it with the HSM key
// registered under one of the challenge's allowed credentials and answers the firstFactor
// `{"kind":"Key","credentialAssertion":{"credId","clientData","signature"}}`.
//
// Node's own http/https modules only; no runtime dependency.

const http = require('node:http');
const https = require('node:https');

const DEFAULT_TIMEOUT_MS = 10000;
// The service's answers are small; anything bigger is not one of them.
const MAX_RESPONSE_BYTES = 1024 * 1024;
const SIGN_PATH = '/v1/sign';
const BASE64URL = /^[A-Za-z0-9_-]+$/;

/** Every error raised by HsmRemoteSigner. */
class HsmSignerError extends Error {
  constructor(message, options) {
    super(message, options && options.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = 'HsmSignerError';
    /** unix:PATH or the service URL. */
    this.endpoint = options && options.endpoint;
  }
}

/** The service could not be reached: no socket, connection refused, TLS failure, reset, ... */
class HsmUnreachableError extends HsmSignerError {
  constructor(message, options) {
    super(message, options);
    this.name = 'HsmUnreachableError';
    /** The system error code (ENOENT, ECONNREFUSED, ...), when there is one. */
    this.code = options && options.code;
  }
}

/** No complete answer within `timeoutMs`. */
class HsmTimeoutError extends HsmSignerError {
  constructor(message, options) {
    super(message, options);
    this.name = 'HsmTimeoutError';
    this.timeoutMs = options && options.timeoutMs;
  }
}

/** The service answered with an error status. */
class HsmServiceError extends HsmSignerError {
  constructor(message, options) {
    super(message, options);
    this.name = 'HsmServiceError';
    /** HTTP status. */
    this.status = options && options.status;
    /** The service's error code (`bad_request`, `forbidden`, ...), when it sent one. */
    this.code = options && options.code;
    /** The service's own message, when it sent one. */
    this.serviceMessage = options && options.serviceMessage;
    /** The response body, parsed when it is JSON. */
    this.body = options && options.body;
  }
}

/** 401: the client token is missing or wrong. */
class HsmUnauthorizedError extends HsmServiceError {
  constructor(message, options) {
    super(message, options);
    this.name = 'HsmUnauthorizedError';
  }
}

/** 403: no identity this client may use matches the challenge (or the request was refused). */
class HsmForbiddenError extends HsmServiceError {
  constructor(message, options) {
    super(message, options);
    this.name = 'HsmForbiddenError';
  }
}

/** 503: the HSM is unusable right now; try again after `retryAfterSeconds`. */
class HsmUnavailableError extends HsmServiceError {
  constructor(message, options) {
    super(message, options);
    this.name = 'HsmUnavailableError';
    /** Seconds from the Retry-After header, or undefined when it had none (or not a number). */
    this.retryAfterSeconds = options && options.retryAfterSeconds;
  }
}

/** A 200 answer that is not a Key assertion. */
class HsmProtocolError extends HsmSignerError {
  constructor(message, options) {
    super(message, options);
    this.name = 'HsmProtocolError';
  }
}

function isObject(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function nonEmptyString(value) {
  return typeof value === 'string' && value.length > 0;
}

// A header value must not smuggle a second header or request line.
function checkHeaderValue(what, value) {
  if (!nonEmptyString(value) || /[\r\n\0]/.test(value)) {
    throw new TypeError(`HsmRemoteSigner: ${what} must be a non-empty string without CR, LF or NUL`);
  }
}

function parseRetryAfter(value) {
  if (typeof value !== 'string' || !/^\s*\d+\s*$/.test(value)) return undefined;
  return Number.parseInt(value, 10);
}

class HsmRemoteSigner {
  /**
   * @param {object} options
   * @param {string} [options.socketPath] unix socket of `dfns-hsm serve` (e.g. /run/dfns-hsm/sign.sock)
   * @param {string} [options.url] base URL of the service over TCP (http://127.0.0.1:8700, https://...)
   * @param {string} [options.token] client bearer token (required by the service on TCP)
   * @param {string} [options.identity] sent as X-Dfns-Hsm-Identity: sign only with this identity
   * @param {number} [options.timeoutMs] whole-request deadline, default 10000
   * @param {string|Buffer|Array} [options.ca] https: CA certificate(s) to trust for the service
   * @param {string|Buffer} [options.cert] https: client certificate (when the service requires one)
   * @param {string|Buffer} [options.key] https: client certificate's private key
   */
  constructor(options) {
    if (!isObject(options)) {
      throw new TypeError('HsmRemoteSigner: pass { socketPath } or { url, token }');
    }
    const { socketPath, url, token, identity, timeoutMs, ca, cert, key } = options;
    if ((socketPath === undefined) === (url === undefined)) {
      throw new TypeError('HsmRemoteSigner: pass exactly one of socketPath and url');
    }
    if (token !== undefined) checkHeaderValue('token', token);
    if (identity !== undefined) checkHeaderValue('identity', identity);
    if (timeoutMs !== undefined && !(Number.isFinite(timeoutMs) && timeoutMs > 0)) {
      throw new TypeError('HsmRemoteSigner: timeoutMs must be a positive number');
    }
    this._timeoutMs = timeoutMs === undefined ? DEFAULT_TIMEOUT_MS : timeoutMs;
    this._headers = {};
    if (token !== undefined) this._headers.authorization = `Bearer ${token}`;
    if (identity !== undefined) this._headers['x-dfns-hsm-identity'] = identity;

    if (socketPath !== undefined) {
      if (!nonEmptyString(socketPath)) throw new TypeError('HsmRemoteSigner: socketPath must be a non-empty string');
      this._endpoint = `unix:${socketPath}`;
      this._transport = http;
      this._agent = new http.Agent({ keepAlive: true });
      this._request = { socketPath, path: SIGN_PATH, headers: { host: 'localhost' } };
    } else {
      let parsed;
      try {
        parsed = new URL(url);
      } catch (err) {
        throw new TypeError(`HsmRemoteSigner: url is not a valid URL: ${url}`);
      }
      if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
        throw new TypeError(`HsmRemoteSigner: url must be http: or https:, not ${parsed.protocol}`);
      }
      if (parsed.username || parsed.password || parsed.search || parsed.hash) {
        throw new TypeError('HsmRemoteSigner: url must have no credentials, query or fragment (pass the token as `token`)');
      }
      const secure = parsed.protocol === 'https:';
      this._endpoint = parsed.origin + parsed.pathname.replace(/\/+$/, '');
      this._transport = secure ? https : http;
      const agentOptions = { keepAlive: true };
      if (secure) {
        if (ca !== undefined) agentOptions.ca = ca;
        if (cert !== undefined) agentOptions.cert = cert;
        if (key !== undefined) agentOptions.key = key;
      } else if (ca !== undefined || cert !== undefined || key !== undefined) {
        throw new TypeError('HsmRemoteSigner: ca, cert and key need an https: url');
      }
      this._agent = new this._transport.Agent(agentOptions);
      this._request = {
        protocol: parsed.protocol,
        // URL keeps IPv6 literals in brackets; http.request wants them bare.
        hostname: parsed.hostname.replace(/^\[(.*)\]$/, '$1'),
        port: parsed.port || (secure ? 443 : 80),
        path: parsed.pathname.replace(/\/+$/, '') + SIGN_PATH,
        headers: {},
      };
    }
  }

  /** unix:PATH or the service's base URL, as errors name it. */
  get endpoint() {
    return this._endpoint;
  }

  /**
   * Sign a user-action challenge (the `/auth/action/init` response, as @dfns/sdk hands it over).
   * @returns {Promise<{kind: 'Key', credentialAssertion: {credId: string, clientData: string, signature: string}}>}
   */
  async sign(challenge) {
    if (!isObject(challenge)) {
      throw new TypeError('HsmRemoteSigner.sign: the challenge must be an object (the /auth/action/init response)');
    }
    const body = Buffer.from(JSON.stringify(challenge), 'utf8');
    const deadline = Date.now() + this._timeoutMs;
    let response;
    try {
      response = await this._post(body, deadline);
    } catch (err) {
      // A kept-alive connection the service closed while idle fails on reuse; that request
      // never reached it, so one retry on a fresh connection is safe.
      if (!(err && err.reusedSocket)) throw err.hsmError || err;
      response = await this._post(body, deadline).catch((e) => {
        throw e.hsmError || e;
      });
    }
    return this._assertion(response);
  }

  /** Close idle kept-alive connections (the process can exit without it). */
  close() {
    this._agent.destroy();
  }

  _post(body, deadline) {
    const remaining = deadline - Date.now();
    const endpoint = this._endpoint;
    const timeoutMs = this._timeoutMs;
    if (remaining <= 0) {
      return Promise.reject(new HsmTimeoutError(`dfns-hsm serve at ${endpoint}: no answer within ${timeoutMs} ms`, { endpoint, timeoutMs }));
    }
    return new Promise((resolve, reject) => {
      let settled = false;
      const finish = (fn, value) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        fn(value);
      };
      const options = {
        ...this._request,
        method: 'POST',
        agent: this._agent,
        headers: {
          ...this._request.headers,
          ...this._headers,
          accept: 'application/json',
          'content-type': 'application/json',
          'content-length': String(body.length),
        },
      };
      const req = this._transport.request(options, (res) => {
        const chunks = [];
        let size = 0;
        res.on('data', (chunk) => {
          size += chunk.length;
          if (size > MAX_RESPONSE_BYTES) {
            finish(reject, wrapped(new HsmProtocolError(`dfns-hsm serve at ${endpoint}: answer over ${MAX_RESPONSE_BYTES} bytes`, { endpoint })));
            req.destroy();
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () => {
          finish(resolve, { status: res.statusCode, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') });
        });
        res.on('error', (err) => finish(reject, unreachable(err, false)));
        res.on('close', () => {
          if (!res.complete) finish(reject, unreachable(new Error('connection closed mid-answer'), false));
        });
      });
      const timer = setTimeout(() => {
        finish(reject, wrapped(new HsmTimeoutError(`dfns-hsm serve at ${endpoint}: no answer within ${timeoutMs} ms`, { endpoint, timeoutMs })));
        req.destroy();
      }, remaining);
      req.on('error', (err) => finish(reject, unreachable(err, req.reusedSocket)));
      req.end(body);

      function unreachable(err, reused) {
        const code = err && err.code;
        const hint = {
          ENOENT: 'no such socket; is dfns-hsm serve running?',
          ECONNREFUSED: 'connection refused; is dfns-hsm serve running?',
          EACCES: 'permission denied; the socket is owner-only unless configured otherwise',
        }[code];
        const cause = `${code ? `${code}: ` : ''}${(err && err.message) || err}`;
        const e = new HsmUnreachableError(
          `cannot reach dfns-hsm serve at ${endpoint}: ${cause}${hint ? ` (${hint})` : ''}`,
          { endpoint, code, cause: err },
        );
        return { hsmError: e, reusedSocket: Boolean(reused) && (code === 'ECONNRESET' || code === 'EPIPE') };
      }
      function wrapped(e) {
        return { hsmError: e, reusedSocket: false };
      }
    });
  }

  _assertion({ status, headers, text }) {
    const endpoint = this._endpoint;
    let parsed;
    try {
      parsed = text.length ? JSON.parse(text) : undefined;
    } catch (err) {
      parsed = undefined;
    }
    if (status !== 200) {
      const error = isObject(parsed) && isObject(parsed.error) ? parsed.error : {};
      const code = typeof error.code === 'string' ? error.code : undefined;
      const serviceMessage = typeof error.message === 'string'
        ? error.message
        : text.trim().slice(0, 500) || undefined;
      const options = { endpoint, status, code, serviceMessage, body: parsed === undefined ? text : parsed };
      const detail = `${code ? `${code}: ` : ''}${serviceMessage || '(no message)'}`;
      if (status === 401) {
        throw new HsmUnauthorizedError(`dfns-hsm serve at ${endpoint} refused the client token (401 ${detail}); check the token`, options);
      }
      if (status === 403) {
        throw new HsmForbiddenError(`dfns-hsm serve at ${endpoint} refused to sign (403 ${detail})`, options);
      }
      if (status === 503) {
        const retryAfterSeconds = parseRetryAfter(headers['retry-after']);
        const retry = retryAfterSeconds === undefined ? 'no Retry-After' : `retry after ${retryAfterSeconds} s`;
        throw new HsmUnavailableError(`dfns-hsm serve at ${endpoint}: HSM unavailable (503 ${detail}); ${retry}`, { ...options, retryAfterSeconds });
      }
      throw new HsmServiceError(`dfns-hsm serve at ${endpoint} answered ${status} (${detail})`, options);
    }
    const ca = isObject(parsed) ? parsed.credentialAssertion : undefined;
    if (!(isObject(parsed) && parsed.kind === 'Key' && isObject(ca)
      && nonEmptyString(ca.credId) && BASE64URL.test(ca.clientData) && BASE64URL.test(ca.signature))) {
      throw new HsmProtocolError(`dfns-hsm serve at ${endpoint} answered 200 without a Key assertion: ${text.slice(0, 200)}`, { endpoint });
    }
    const credentialAssertion = { credId: ca.credId, clientData: ca.clientData, signature: ca.signature };
    if (typeof ca.algorithm === 'string') credentialAssertion.algorithm = ca.algorithm;
    return { kind: 'Key', credentialAssertion };
  }
}

module.exports = {
  HsmRemoteSigner,
  HsmSignerError,
  HsmUnreachableError,
  HsmTimeoutError,
  HsmServiceError,
  HsmUnauthorizedError,
  HsmForbiddenError,
  HsmUnavailableError,
  HsmProtocolError,
};
