//! `NameValuePairList` keys (`eCPExtMessage_*`, SIS extensions) that
//! casebridge writes or reads. The alternate-contact keys are sample 01's
//! spellings verbatim, inconsistencies included: they are what HPE accepted.

/// Always the first pair of the extension block we write.
pub const VERSION: &str = "eCPExtMessage_eCPExtControl_Version";
pub const VERSION_VALUE: &str = "1.0";

pub const ALTERNATE_FIRST_NAME: &str =
    "eCPExtMessage_EXT_SERVICE_INCIDENT_SERVICE_REQUESTERALTERNATE_PERSON_FirstName";
pub const ALTERNATE_LAST_NAME: &str =
    "eCPExtMessage_EXT_SERVICE_INCIDENT_SERVICE_REQUESTERALTERNATE_PERSON_LastName";
pub const ALTERNATE_PHONE: &str = "eCPExtMessage_EXT_SERVICE_INCIDENT_SERVICEREQUESTERALTERNATE_PERSON_ADDRESS_LOCATION_PRIMARY_VOICE";
pub const ALTERNATE_EMAIL: &str =
    "eCPExtMessage_EXT_SERVICE_INCIDENT_SERVICEREQUESTERALTERNATE_PERSON_ADDRESS_LOCATION_EMAIL";

/// `Y` when HPE waits on us (the case moves to 4, §3).
pub const INFO_REQUESTED: &str = "eCPExtMessage_InfoRequested";
