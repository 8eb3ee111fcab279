//! Loading and initializing a PKCS#11 module: one context per library per process.
//!
//! `C_Initialize` is process-global; initializing the same library twice from one process
//! (two tokens, two tests) must share one context, and "already initialized" by someone else
//! is adopted rather than treated as a failure.

use std::collections::HashMap;
use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};

use cryptoki::mechanism::Mechanism;
use cryptoki::object::ObjectHandle;
use cryptoki::session::Session;

use super::error::{Error, Result};
use super::raw_sign::RawSign;

/// A loaded, initialized PKCS#11 library.
pub struct Module {
    ctx: Pkcs11,
    path: PathBuf,
    // The pReserved string must outlive C_Initialize; some modules keep the pointer.
    _init_args: Option<CString>,
    // Bumped by each re-initialization, so concurrent recoveries re-initialize once.
    generation: Mutex<u64>,
    // One-call signing through the initialized instance's own C_Sign, when it can be had.
    raw_sign: Option<RawSign>,
    // Object creation one at a time across every token and session of this module:
    // tpm2-pkcs11 1.9 fails concurrent creates ("database is locked") and SoftHSM2 was seen
    // failing concurrent key generation (CKR_TEMPLATE_INCONSISTENT, CKR_GENERAL_ERROR).
    // Creating objects is rare; signing is not serialized.
    creating: Mutex<()>,
}

impl std::fmt::Debug for Module {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Module").field("path", &self.path).finish()
    }
}

fn registry() -> &'static Mutex<HashMap<PathBuf, Arc<Module>>> {
    static REGISTRY: OnceLock<Mutex<HashMap<PathBuf, Arc<Module>>>> = OnceLock::new();
    REGISTRY.get_or_init(|| Mutex::new(HashMap::new()))
}

impl Module {
    /// Held while creating objects (keys, data objects): one creation at a time.
    pub(super) fn creating(&self) -> std::sync::MutexGuard<'_, ()> {
        self.creating.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Load `path` and initialize it with OS locking, or return the context this process
    /// already has for it. `init_args` is passed as `pReserved` (YubiHSM connector, NSS).
    /// The path must be absolute and lead to a file only its owner can change (see
    /// `module_path`); what is loaded, and what [`Module::path`] reports, is its canonical form.
    pub fn load(path: &Path, init_args: Option<&str>) -> Result<Arc<Module>> {
        let checked = super::module_path::check(path)?;
        let path = checked.as_path();
        let mut reg = registry().lock().map_err(|_| {
            Error::Config("PKCS#11 module registry poisoned by an earlier panic".into())
        })?;
        if let Some(m) = reg.get(path) {
            return Ok(Arc::clone(m));
        }
        let module = Arc::new(Self::open(path, init_args)?);
        reg.insert(path.to_path_buf(), Arc::clone(&module));
        Ok(module)
    }

    fn open(path: &Path, init_args: Option<&str>) -> Result<Module> {
        let load_err = |reason: String| Error::ModuleLoad {
            path: path.to_path_buf(),
            reason,
        };
        // Check before dlopen: its errors are cryptic and a relative name would search LD paths.
        if !path.is_absolute() {
            return Err(load_err("the path must be absolute".into()));
        }
        match std::fs::metadata(path) {
            Ok(m) if m.is_file() => {}
            Ok(_) => return Err(load_err("it is not a regular file".into())),
            Err(e) => return Err(load_err(format!("{e}"))),
        }
        let ctx = Pkcs11::new(path).map_err(|e| load_err(e.to_string()))?;
        let init_args = init_args
            .map(CString::new)
            .transpose()
            .map_err(|_| Error::Config("init_args must not contain a NUL byte".into()))?;
        // From the instance cryptoki holds: a second C_GetFunctionList may be another one.
        let raw_sign = RawSign::from_context(&ctx);
        let module = Module {
            ctx,
            path: path.to_path_buf(),
            _init_args: init_args,
            generation: Mutex::new(0),
            raw_sign,
            creating: Mutex::new(()),
        };
        module.initialize()?;
        Ok(module)
    }

    /// `C_Initialize` with OS locking and our init args; "already initialized" is adopted.
    fn initialize(&self) -> Result<()> {
        let flags = CInitializeFlags::OS_LOCKING_OK;
        let args = match &self._init_args {
            // SAFETY: the pointer is to a NUL-terminated string owned by `Module`, which
            // outlives the context; modules read it as a C string (PKCS#11 pReserved).
            Some(s) => unsafe {
                CInitializeArgs::new_with_reserved(
                    flags,
                    std::ptr::NonNull::new(s.as_ptr() as *mut std::ffi::c_void)
                        .ok_or_else(|| Error::Config("init_args pointer was null".into()))?,
                )
            },
            None => CInitializeArgs::new(flags),
        };
        let path = &self.path;
        let ctx = &self.ctx;
        match ctx.initialize(args) {
            Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
            Err(source) => {
                let hint = match &source {
                    CkError::Pkcs11(RvError::ArgumentsBad, _) => {
                        "The module wants initialization arguments: set init_args in the config profile"
                    }
                    CkError::Pkcs11(RvError::FunctionFailed, _) | CkError::Pkcs11(RvError::GeneralError, _) => {
                        "The module could not read its configuration or token directory (SoftHSM2: SOFTHSM2_CONF and tokendir permissions; YubiHSM: yubihsm_pkcs11.conf)"
                    }
                    _ => "Check the vendor's client configuration",
                };
                return Err(Error::Initialize {
                    path: path.to_path_buf(),
                    source,
                    hint,
                });
            }
        }
        Ok(())
    }

    /// How many times the module has been re-initialized (see [`Module::reinitialize`]).
    pub fn generation(&self) -> u64 {
        self.generation.lock().map(|g| *g).unwrap_or(0)
    }

    /// `C_Finalize` then `C_Initialize`, to flush a module's caches after its token vanished
    /// (krill and rust-cryptoki#75 do the same). Every session of every token on this module
    /// dies; their owners see session faults and reopen. `seen` is the generation the caller
    /// observed failing: when another thread already re-initialized since, nothing is done.
    pub fn reinitialize(&self, seen: u64) -> Result<()> {
        let mut generation = self
            .generation
            .lock()
            .map_err(|_| Error::Config("module lock poisoned".into()))?;
        if *generation != seen {
            return Ok(());
        }
        tracing::warn!(module = %self.path.display(), "re-initializing the PKCS#11 module");
        // A finalize error (e.g. not initialized any more) must not stop the initialize.
        let _ = self.ctx.clone().finalize();
        self.initialize()?;
        *generation += 1;
        Ok(())
    }

    /// Sign `data` in one `C_Sign` round trip when the module's entry points are at hand
    /// (`expected_len` is the signature size), else through cryptoki's two calls.
    pub fn sign(
        &self,
        session: &Session,
        mechanism: &Mechanism,
        key: ObjectHandle,
        data: &[u8],
        expected_len: usize,
    ) -> std::result::Result<Vec<u8>, CkError> {
        match &self.raw_sign {
            Some(raw) => raw.sign(session, mechanism, key, data, expected_len),
            None => session.sign(mechanism, key, data),
        }
    }

    /// True when signatures take one `C_Sign` call (the initialized instance's own entry
    /// point was found), false when they take cryptoki's two.
    pub fn one_call_sign(&self) -> bool {
        self.raw_sign.is_some()
    }

    /// The cryptoki context.
    pub fn ctx(&self) -> &Pkcs11 {
        &self.ctx
    }

    /// The library path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Library description for diagnostics (`manufacturer / description / version`).
    pub fn describe(&self) -> String {
        match self.ctx.get_library_info() {
            Ok(i) => format!(
                "{} / {} {}",
                i.manufacturer_id().trim(),
                i.library_description().trim(),
                i.library_version()
            ),
            Err(e) => format!("(C_GetInfo failed: {})", super::error::describe(&e)),
        }
    }
}
