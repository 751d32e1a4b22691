package apf

import "strconv"

// MessageType is the first byte of every APF message (protocol-cira-wsman §2.2).
type MessageType uint8

// APF message types (§2.2).
const (
	TypeDisconnect              MessageType = 1
	TypeServiceRequest          MessageType = 5
	TypeServiceAccept           MessageType = 6
	TypeUserAuthRequest         MessageType = 50
	TypeUserAuthFailure         MessageType = 51
	TypeUserAuthSuccess         MessageType = 52
	TypeGlobalRequest           MessageType = 80
	TypeRequestSuccess          MessageType = 81
	TypeRequestFailure          MessageType = 82
	TypeChannelOpen             MessageType = 90
	TypeChannelOpenConfirmation MessageType = 91
	TypeChannelOpenFailure      MessageType = 92
	TypeChannelWindowAdjust     MessageType = 93
	TypeChannelData             MessageType = 94
	TypeChannelClose            MessageType = 97
	TypeProtocolVersion         MessageType = 192
	TypeKeepaliveRequest        MessageType = 208
	TypeKeepaliveReply          MessageType = 209
	TypeKeepaliveOptionsRequest MessageType = 210
	TypeKeepaliveOptionsReply   MessageType = 211
)

var messageTypeNames = map[MessageType]string{
	TypeDisconnect:              "DISCONNECT",
	TypeServiceRequest:          "SERVICE_REQUEST",
	TypeServiceAccept:           "SERVICE_ACCEPT",
	TypeUserAuthRequest:         "USERAUTH_REQUEST",
	TypeUserAuthFailure:         "USERAUTH_FAILURE",
	TypeUserAuthSuccess:         "USERAUTH_SUCCESS",
	TypeGlobalRequest:           "GLOBAL_REQUEST",
	TypeRequestSuccess:          "REQUEST_SUCCESS",
	TypeRequestFailure:          "REQUEST_FAILURE",
	TypeChannelOpen:             "CHANNEL_OPEN",
	TypeChannelOpenConfirmation: "CHANNEL_OPEN_CONFIRMATION",
	TypeChannelOpenFailure:      "CHANNEL_OPEN_FAILURE",
	TypeChannelWindowAdjust:     "CHANNEL_WINDOW_ADJUST",
	TypeChannelData:             "CHANNEL_DATA",
	TypeChannelClose:            "CHANNEL_CLOSE",
	TypeProtocolVersion:         "PROTOCOLVERSION",
	TypeKeepaliveRequest:        "KEEPALIVE_REQUEST",
	TypeKeepaliveReply:          "KEEPALIVE_REPLY",
	TypeKeepaliveOptionsRequest: "KEEPALIVE_OPTIONS_REQUEST",
	TypeKeepaliveOptionsReply:   "KEEPALIVE_OPTIONS_REPLY",
}

func (t MessageType) String() string { return name(messageTypeNames, t) }

// DisconnectReason is the reason code of a DISCONNECT message (§2.4).
type DisconnectReason uint32

// Disconnect reasons (§2.4).
const (
	DisconnectHostNotAllowedToConnect     DisconnectReason = 1
	DisconnectProtocolError               DisconnectReason = 2
	DisconnectKeyExchangeFailed           DisconnectReason = 3
	DisconnectReserved                    DisconnectReason = 4
	DisconnectMACError                    DisconnectReason = 5
	DisconnectCompressionError            DisconnectReason = 6
	DisconnectServiceNotAvailable         DisconnectReason = 7
	DisconnectProtocolVersionNotSupported DisconnectReason = 8
	DisconnectHostKeyNotVerifiable        DisconnectReason = 9
	DisconnectConnectionLost              DisconnectReason = 10
	DisconnectByApplication               DisconnectReason = 11
	DisconnectTooManyConnections          DisconnectReason = 12
	DisconnectAuthCancelledByUser         DisconnectReason = 13
	DisconnectNoMoreAuthMethodsAvailable  DisconnectReason = 14
	DisconnectInvalidCredentials          DisconnectReason = 15
	DisconnectConnectionTimedOut          DisconnectReason = 16
	DisconnectByPolicy                    DisconnectReason = 17
	DisconnectTemporarilyUnavailable      DisconnectReason = 18
)

var disconnectReasonNames = map[DisconnectReason]string{ //nolint:gosec // G101: reason-code names (§2.4), not credentials
	DisconnectHostNotAllowedToConnect:     "HOST_NOT_ALLOWED_TO_CONNECT",
	DisconnectProtocolError:               "PROTOCOL_ERROR",
	DisconnectKeyExchangeFailed:           "KEY_EXCHANGE_FAILED",
	DisconnectReserved:                    "RESERVED",
	DisconnectMACError:                    "MAC_ERROR",
	DisconnectCompressionError:            "COMPRESSION_ERROR",
	DisconnectServiceNotAvailable:         "SERVICE_NOT_AVAILABLE",
	DisconnectProtocolVersionNotSupported: "PROTOCOL_VERSION_NOT_SUPPORTED",
	DisconnectHostKeyNotVerifiable:        "HOST_KEY_NOT_VERIFIABLE",
	DisconnectConnectionLost:              "CONNECTION_LOST",
	DisconnectByApplication:               "BY_APPLICATION",
	DisconnectTooManyConnections:          "TOO_MANY_CONNECTIONS",
	DisconnectAuthCancelledByUser:         "AUTH_CANCELLED_BY_USER",
	DisconnectNoMoreAuthMethodsAvailable:  "NO_MORE_AUTH_METHODS_AVAILABLE",
	DisconnectInvalidCredentials:          "INVALID_CREDENTIALS",
	DisconnectConnectionTimedOut:          "CONNECTION_TIMED_OUT",
	DisconnectByPolicy:                    "BY_POLICY",
	DisconnectTemporarilyUnavailable:      "TEMPORARILY_UNAVAILABLE",
}

func (r DisconnectReason) String() string { return name(disconnectReasonNames, r) }

// OpenFailureReason is the reason code of a CHANNEL_OPEN_FAILURE message (§2.3).
type OpenFailureReason uint32

// Channel open failure reasons (§2.3).
const (
	OpenAdministrativelyProhibited OpenFailureReason = 1
	OpenConnectFailed              OpenFailureReason = 2
	OpenUnknownChannelType         OpenFailureReason = 3
	OpenResourceShortage           OpenFailureReason = 4
)

var openFailureReasonNames = map[OpenFailureReason]string{
	OpenAdministrativelyProhibited: "ADMINISTRATIVELY_PROHIBITED",
	OpenConnectFailed:              "CONNECT_FAILED",
	OpenUnknownChannelType:         "UNKNOWN_CHANNEL_TYPE",
	OpenResourceShortage:           "RESOURCE_SHORTAGE",
}

func (r OpenFailureReason) String() string { return name(openFailureReasonNames, r) }

// TriggerReason tells why AMT opened the CIRA connection (PROTOCOLVERSION, §2.3).
type TriggerReason uint32

// Trigger reasons (§2.3).
const (
	TriggerUserInitiated TriggerReason = 1
	TriggerAlert         TriggerReason = 2
	TriggerProvisioning  TriggerReason = 3
	TriggerPeriodic      TriggerReason = 4
	TriggerLME           TriggerReason = 254
)

var triggerReasonNames = map[TriggerReason]string{
	TriggerUserInitiated: "USER_INITIATED",
	TriggerAlert:         "ALERT",
	TriggerProvisioning:  "HIT_PROVISIONING",
	TriggerPeriodic:      "PERIODIC",
	TriggerLME:           "LME",
}

func (r TriggerReason) String() string { return name(triggerReasonNames, r) }

func name[K ~uint8 | ~uint32](names map[K]string, k K) string {
	if s, ok := names[k]; ok {
		return s
	}
	return "UNKNOWN(" + strconv.FormatUint(uint64(k), 10) + ")"
}
