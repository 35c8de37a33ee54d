//! Just enough of the CUDA driver API, opened at run time with `dlopen`, for
//! `cargo xtask doctor` to say which driver and GPUs a machine has. Nothing
//! CUDA is needed to build the xtask; without a driver the probe says so.

use std::ffi::{CStr, CString, c_char, c_int, c_uint, c_void};
use std::fmt;

// glibc exports these from libc itself (and from libdl, which std already
// links on linux-gnu), so declaring them needs no extra dependency.
unsafe extern "C" {
    fn dlopen(filename: *const c_char, flags: c_int) -> *mut c_void;
    fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
    fn dlerror() -> *mut c_char;
    fn dlclose(handle: *mut c_void) -> c_int;
}

const RTLD_NOW: c_int = 2;
const RTLD_LOCAL: c_int = 0;

/// `CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR`.
const ATTR_CC_MAJOR: c_int = 75;
/// `CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR`.
const ATTR_CC_MINOR: c_int = 76;

type CuInit = unsafe extern "C" fn(c_uint) -> c_int;
type CuDriverGetVersion = unsafe extern "C" fn(*mut c_int) -> c_int;
type CuDeviceGetCount = unsafe extern "C" fn(*mut c_int) -> c_int;
type CuDeviceGet = unsafe extern "C" fn(*mut c_int, c_int) -> c_int;
type CuDeviceGetName = unsafe extern "C" fn(*mut c_char, c_int, c_int) -> c_int;
type CuDeviceGetAttribute = unsafe extern "C" fn(*mut c_int, c_int, c_int) -> c_int;
type CuGetErrorName = unsafe extern "C" fn(c_int, *mut *const c_char) -> c_int;

/// The last `dlerror()` message.
fn last_dl_error() -> String {
    // SAFETY: dlerror has no preconditions; it returns NULL or a pointer to a
    // NUL-terminated string valid until the next dl* call on this thread,
    // which we copy out before making one.
    unsafe {
        let msg = dlerror();
        if msg.is_null() {
            "unknown dlopen error".to_string()
        } else {
            CStr::from_ptr(msg).to_string_lossy().into_owned()
        }
    }
}

/// An open shared library, closed on drop.
struct Library {
    handle: *mut c_void,
}

impl Library {
    fn open(name: &CStr) -> Result<Library, String> {
        // SAFETY: `name` is a valid NUL-terminated string; dlopen runs the
        // library's initialisers, which for libcuda have no preconditions.
        let handle = unsafe { dlopen(name.as_ptr(), RTLD_NOW | RTLD_LOCAL) };
        if handle.is_null() { Err(last_dl_error()) } else { Ok(Library { handle }) }
    }

    fn symbol(&self, name: &str) -> Result<*mut c_void, ProbeError> {
        let cname = CString::new(name).map_err(|_| ProbeError::Symbol(name.to_string(), "bad name".into()))?;
        // SAFETY: `handle` is a live handle from dlopen and `cname` is a valid
        // NUL-terminated string.
        let ptr = unsafe { dlsym(self.handle, cname.as_ptr()) };
        if ptr.is_null() { Err(ProbeError::Symbol(name.to_string(), last_dl_error())) } else { Ok(ptr) }
    }
}

impl Drop for Library {
    fn drop(&mut self) {
        // SAFETY: `handle` came from dlopen and is closed exactly once; no
        // function pointer from it outlives the `Driver` that owns it.
        unsafe { dlclose(self.handle) };
    }
}

/// The symbol `name` of `lib` as a function pointer of type `F`.
///
/// # Safety
/// `F` must be an `unsafe extern "C" fn` type matching the symbol's C
/// signature, and the pointer must not be called after `lib` is closed.
unsafe fn function<F: Copy>(lib: &Library, name: &str) -> Result<F, ProbeError> {
    const { assert!(size_of::<F>() == size_of::<*mut c_void>()) };
    let ptr = lib.symbol(name)?;
    // SAFETY: `F` is a function-pointer type of the same size as a data
    // pointer (checked above), and the caller vouches for its signature.
    Ok(unsafe { std::mem::transmute_copy::<*mut c_void, F>(&ptr) })
}

/// Why the probe stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeError {
    /// `libcuda.so.1` could not be opened (no NVIDIA driver installed).
    NoLibrary(String),
    /// libcuda lacks a function we call.
    Symbol(String, String),
    /// A driver call returned an error code.
    Call {
        /// The function.
        function: &'static str,
        /// The `CUresult`.
        code: i32,
        /// Its name (`CUDA_ERROR_NO_DEVICE`), when the driver could tell.
        name: Option<String>,
    },
}

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbeError::NoLibrary(msg) => write!(f, "no libcuda ({msg})"),
            ProbeError::Symbol(name, msg) => write!(f, "libcuda has no {name} ({msg})"),
            ProbeError::Call { function, code, name } => {
                write!(f, "{function} failed with CUresult {code}")?;
                if let Some(name) = name {
                    write!(f, " ({name})")?;
                }
                Ok(())
            }
        }
    }
}

/// One GPU as the driver describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gpu {
    /// Device ordinal.
    pub ordinal: i32,
    /// `cuDeviceGetName`.
    pub name: String,
    /// Compute capability (major, minor), e.g. (9, 0).
    pub compute_capability: (i32, i32),
}

/// What the driver reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriverInfo {
    /// `cuDriverGetVersion`, e.g. 13000 for CUDA 13.0.
    pub version: i32,
    /// The GPUs it sees.
    pub gpus: Vec<Gpu>,
}

impl DriverInfo {
    /// The driver's CUDA version as `major.minor`.
    pub fn version_string(&self) -> String {
        format!("{}.{}", self.version / 1000, (self.version % 1000) / 10)
    }
}

struct Driver {
    _lib: Library,
    error_name: Option<CuGetErrorName>,
}

impl Driver {
    fn check(&self, function: &'static str, code: c_int) -> Result<(), ProbeError> {
        if code == 0 {
            return Ok(());
        }
        let name = self.error_name.and_then(|get| {
            let mut ptr: *const c_char = std::ptr::null();
            // SAFETY: cuGetErrorName writes a pointer to a static string (or
            // leaves it untouched on failure) into the out-pointer we own.
            let rc = unsafe { get(code, &mut ptr) };
            // SAFETY: on success `ptr` is a static NUL-terminated string.
            (rc == 0 && !ptr.is_null()).then(|| unsafe { CStr::from_ptr(ptr) }.to_string_lossy().into_owned())
        });
        Err(ProbeError::Call { function, code, name })
    }
}

/// Open libcuda and ask it for the driver version and every GPU's name and
/// compute capability.
pub fn probe() -> Result<DriverInfo, ProbeError> {
    let lib = Library::open(c"libcuda.so.1").map_err(ProbeError::NoLibrary)?;
    // SAFETY: here and in each `function` call below, the type asked for is the C
    // signature of that libcuda symbol as cuda.h declares it (driver API of
    // CUDA 12 and 13, `CUresult` and `CUdevice` being `int`).
    let init: CuInit = unsafe { function(&lib, "cuInit")? };
    // SAFETY: as above.
    let get_version: CuDriverGetVersion = unsafe { function(&lib, "cuDriverGetVersion")? };
    // SAFETY: as above.
    let get_count: CuDeviceGetCount = unsafe { function(&lib, "cuDeviceGetCount")? };
    // SAFETY: as above.
    let get_device: CuDeviceGet = unsafe { function(&lib, "cuDeviceGet")? };
    // SAFETY: as above.
    let get_name: CuDeviceGetName = unsafe { function(&lib, "cuDeviceGetName")? };
    // SAFETY: as above.
    let get_attribute: CuDeviceGetAttribute = unsafe { function(&lib, "cuDeviceGetAttribute")? };
    // SAFETY: as above.
    let error_name: Option<CuGetErrorName> = unsafe { function(&lib, "cuGetErrorName") }.ok();
    let driver = Driver { _lib: lib, error_name };

    let mut version: c_int = 0;
    // SAFETY: cuDriverGetVersion writes one int through the pointer we own; it
    // may be called before cuInit.
    driver.check("cuDriverGetVersion", unsafe { get_version(&mut version) })?;
    // SAFETY: cuInit takes flags (must be 0) and no pointers.
    driver.check("cuInit", unsafe { init(0) })?;
    let mut count: c_int = 0;
    // SAFETY: cuInit succeeded; writes one int through the pointer we own.
    driver.check("cuDeviceGetCount", unsafe { get_count(&mut count) })?;
    let mut gpus = Vec::new();
    for ordinal in 0..count {
        let mut device: c_int = 0;
        // SAFETY: `ordinal` is below the device count; writes one CUdevice (an int).
        driver.check("cuDeviceGet", unsafe { get_device(&mut device, ordinal) })?;
        let mut buf = [0 as c_char; 256];
        // SAFETY: the buffer holds `len` bytes and the driver NUL-terminates
        // within that length.
        driver.check("cuDeviceGetName", unsafe { get_name(buf.as_mut_ptr(), buf.len() as c_int, device) })?;
        // SAFETY: the buffer is NUL-terminated (zero-initialised, and the
        // driver writes at most len-1 characters plus a NUL).
        let name = unsafe { CStr::from_ptr(buf.as_ptr()) }.to_string_lossy().into_owned();
        let (mut major, mut minor): (c_int, c_int) = (0, 0);
        // SAFETY: valid device and attribute ids; writes one int each.
        driver.check("cuDeviceGetAttribute", unsafe { get_attribute(&mut major, ATTR_CC_MAJOR, device) })?;
        // SAFETY: as above.
        driver.check("cuDeviceGetAttribute", unsafe { get_attribute(&mut minor, ATTR_CC_MINOR, device) })?;
        gpus.push(Gpu { ordinal, name, compute_capability: (major, minor) });
    }
    Ok(DriverInfo { version, gpus })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_library_is_reported_not_fatal() {
        let err = Library::open(c"libringkernel-does-not-exist.so.1").map(|_| ()).unwrap_err();
        assert!(err.contains("libringkernel-does-not-exist"), "{err}");
        // On a machine without a driver the probe is a clean NoLibrary; with
        // one, it either works or names the failing call.
        match probe() {
            Ok(info) => assert!(info.version > 0),
            Err(e) => assert!(!e.to_string().is_empty()),
        }
    }

    #[test]
    fn formats_driver_versions() {
        let info = DriverInfo { version: 13000, gpus: Vec::new() };
        assert_eq!(info.version_string(), "13.0");
        assert_eq!(DriverInfo { version: 12080, gpus: Vec::new() }.version_string(), "12.8");
        let e = ProbeError::Call { function: "cuInit", code: 100, name: Some("CUDA_ERROR_NO_DEVICE".into()) };
        assert_eq!(e.to_string(), "cuInit failed with CUresult 100 (CUDA_ERROR_NO_DEVICE)");
    }
}
