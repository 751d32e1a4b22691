package wsman

import "strings"

// ReturnValue code tables (protocol-cira-wsman §10.4, protocol-rps-activation §2.4).
var (
	// ptStatus is AMT's PT_STATUS table, used by AMT_* methods and, like MPS does, for
	// CIM_PowerManagementService.RequestPowerStateChange (so callers can match "NOT_READY").
	ptStatus = map[uint32]string{
		0: "SUCCESS", 1: "INTERNAL_ERROR", 2: "NOT_READY", 3: "INVALID_PT_MODE", 16: "NOT_PERMITTED", 35: "INVALID_INDEX",
		36: "INVALID_PARAMETER", 38: "FLASH_WRITE_LIMIT_EXCEEDED", 45: "CONNECTION_FAILED",
		2054: "INVALID_PASSWORD", 2057: "DATA_MISSING", 2066: "UNSUPPORTED", 2068: "NOT_FOUND",
		2076: "BLOCKING_COMPONENT", 2081: "USER_CONSENT_REQUIRED",
	}
	// dmtfStatus is the DMTF method return map used by other CIM_* methods and IPS_PowerManagementService.
	dmtfStatus = map[uint32]string{
		0: "COMPLETED_WITH_NO_ERROR", 1: "NOT_SUPPORTED", 2: "UNKNOWN_OR_UNSPECIFIED_ERROR",
		3: "CANNOT_COMPLETE_WITHIN_TIMEOUT_PERIOD", 4: "FAILED", 5: "INVALID_PARAMETER", 6: "IN_USE",
		4096: "METHOD_PARAMETERS_CHECKED_JOB_STARTED", 4097: "INVALID_STATE_TRANSITION",
		4098: "USE_OF_TIMEOUT_PARAMETER_NOT_SUPPORTED", 4099: "BUSY",
	}
	setupStatus = map[uint32]string{
		0: "SUCCESS", 1: "INTERNAL_ERROR", 2: "INVALID_STATE", 3: "INVALID_PARAM", 4: "METHOD_DISABLED",
		5: "AUTH_FAILED", 6: "FLASH_WRITE_LIMIT_EXCEEDED",
	}
	adminSetupStatus = map[uint32]string{
		0: "SUCCESS", 1: "INTERNAL_ERROR", 2: "INVALID_STATE", 3: "INVALID_PARAM", 5: "AUTH_FAILED",
		6: "FLASH_WRITE_LIMIT_EXCEEDED",
	}
	certChainStatus = map[uint32]string{
		0: "SUCCESS", 1: "INVALID_PARAM", 2: "INTERNAL_ERROR", 3: "INVALID_STATE", 4: "CERT_VERIFY_FAILED",
		5: "CERT_CHAIN_LENGTH_EXCEEDED",
	}
)

// ReturnValueName labels a method's ReturnValue with the table that applies to the class and method.
func ReturnValueName(resourceURI, method string, value uint32) string {
	class := ClassOf(resourceURI)
	table := ptStatus
	switch {
	case class == "IPS_HostBasedSetupService" && method == "Setup":
		table = setupStatus
	case class == "IPS_HostBasedSetupService" && (method == "AdminSetup" || method == "UpgradeClientToAdmin"):
		// UpgradeClientToAdmin is AdminSetup without the password (protocol-rps-activation §2.5 step 4).
		table = adminSetupStatus
	case class == "IPS_HostBasedSetupService" && method == "AddNextCertInChain":
		table = certChainStatus
	case class == "IPS_PowerManagementService",
		strings.HasPrefix(class, "CIM_") && class != "CIM_PowerManagementService":
		table = dmtfStatus
	}
	if name, ok := table[value]; ok {
		return name
	}
	return "UNKNOWN_ERROR"
}
