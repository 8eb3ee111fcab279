//! The real PKCS#11 module underneath: loaded once per process and never unloaded (modules such
//! as SoftHSM2 do not survive being unloaded and loaded again).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use cryptoki_sys::{CKR_OK, CK_FUNCTION_LIST, CK_FUNCTION_LIST_PTR_PTR, CK_RV};
use libloading::Library;

/// A loaded real module and a copy of its function list.
pub struct Real {
    /// Keeps the library mapped for the life of the process.
    _library: Library,
    /// The real module's function list.
    pub list: CK_FUNCTION_LIST,
    /// Where it was loaded from.
    pub path: PathBuf,
}

impl std::fmt::Debug for Real {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Real").field("path", &self.path).finish()
    }
}

static REAL: OnceLock<Real> = OnceLock::new();
static LOADING: Mutex<()> = Mutex::new(());

/// The real module at `path`, loading it on first use. A later call with another path gets the
/// module already loaded (one per process) and an error saying so.
pub fn load(path: &Path, own_initialize: usize) -> Result<&'static Real, String> {
    let _guard = LOADING
        .lock()
        .map_err(|_| "loader lock poisoned".to_owned())?;
    if let Some(real) = REAL.get() {
        if real.path != path {
            return Err(format!(
                "this process already forwards to {}; one real module per process",
                real.path.display()
            ));
        }
        return Ok(real);
    }
    let real = open(path, own_initialize)?;
    Ok(REAL.get_or_init(|| real))
}

fn open(path: &Path, own_initialize: usize) -> Result<Real, String> {
    // SAFETY: loading a PKCS#11 module runs its initializers; that is what the caller asked
    // for by naming it in FAULTY_PKCS11_MODULE.
    let library = unsafe { Library::new(path) }.map_err(|e| e.to_string())?;
    type GetFunctionList = unsafe extern "C" fn(CK_FUNCTION_LIST_PTR_PTR) -> CK_RV;
    // SAFETY: the symbol is declared by PKCS#11 with exactly this signature.
    let get_list = unsafe { library.get::<GetFunctionList>(b"C_GetFunctionList\0") }
        .map_err(|e| format!("no C_GetFunctionList: {e}"))?;
    let mut ptr: *mut CK_FUNCTION_LIST = std::ptr::null_mut();
    // SAFETY: `ptr` is a valid out-pointer; the module fills it with its static list.
    let rv = unsafe { get_list(&mut ptr) };
    if rv != CKR_OK || ptr.is_null() {
        return Err(format!(
            "C_GetFunctionList returned {}",
            crate::ckr::name(rv)
        ));
    }
    // SAFETY: the module returned a non-NULL pointer to its function list, valid while the
    // library stays loaded; we copy it by value.
    let list = unsafe { *ptr };
    if list.C_Initialize.map(|f| f as usize) == Some(own_initialize) {
        return Err("it is the faulty module itself; name the real module".into());
    }
    Ok(Real {
        _library: library,
        list,
        path: path.to_path_buf(),
    })
}
