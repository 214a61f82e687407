import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PixelFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PIXEL_FORMAT_UNSPECIFIED: _ClassVar[PixelFormat]
    PIXEL_FORMAT_GRAY8: _ClassVar[PixelFormat]
    PIXEL_FORMAT_RGB8: _ClassVar[PixelFormat]

class FrameStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FRAME_STATUS_UNSPECIFIED: _ClassVar[FrameStatus]
    PROCESSED: _ClassVar[FrameStatus]
    DROPPED_STALE: _ClassVar[FrameStatus]
    DROPPED_OVERLOAD: _ClassVar[FrameStatus]
    INVALID: _ClassVar[FrameStatus]
    FAILED: _ClassVar[FrameStatus]

class Direction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DIRECTION_UNKNOWN: _ClassVar[Direction]
    DIRECTION_TOWARDS: _ClassVar[Direction]
    DIRECTION_AWAY: _ClassVar[Direction]

class MatchKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MATCH_KIND_UNSPECIFIED: _ClassVar[MatchKind]
    MATCH_EXACT: _ClassVar[MatchKind]
    MATCH_LOOKALIKE: _ClassVar[MatchKind]
    MATCH_ONE_EDIT: _ClassVar[MatchKind]
PIXEL_FORMAT_UNSPECIFIED: PixelFormat
PIXEL_FORMAT_GRAY8: PixelFormat
PIXEL_FORMAT_RGB8: PixelFormat
FRAME_STATUS_UNSPECIFIED: FrameStatus
PROCESSED: FrameStatus
DROPPED_STALE: FrameStatus
DROPPED_OVERLOAD: FrameStatus
INVALID: FrameStatus
FAILED: FrameStatus
DIRECTION_UNKNOWN: Direction
DIRECTION_TOWARDS: Direction
DIRECTION_AWAY: Direction
MATCH_KIND_UNSPECIFIED: MatchKind
MATCH_EXACT: MatchKind
MATCH_LOOKALIKE: MatchKind
MATCH_ONE_EDIT: MatchKind

class RawImage(_message.Message):
    __slots__ = ("pixels", "width", "height", "format")
    PIXELS_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    pixels: bytes
    width: int
    height: int
    format: PixelFormat
    def __init__(self, pixels: _Optional[bytes] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., format: _Optional[_Union[PixelFormat, str]] = ...) -> None: ...

class Frame(_message.Message):
    __slots__ = ("camera_id", "sequence", "captured_at", "encoded", "raw", "latency_budget_ms")
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    CAPTURED_AT_FIELD_NUMBER: _ClassVar[int]
    ENCODED_FIELD_NUMBER: _ClassVar[int]
    RAW_FIELD_NUMBER: _ClassVar[int]
    LATENCY_BUDGET_MS_FIELD_NUMBER: _ClassVar[int]
    camera_id: str
    sequence: int
    captured_at: _timestamp_pb2.Timestamp
    encoded: bytes
    raw: RawImage
    latency_budget_ms: int
    def __init__(self, camera_id: _Optional[str] = ..., sequence: _Optional[int] = ..., captured_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., encoded: _Optional[bytes] = ..., raw: _Optional[_Union[RawImage, _Mapping]] = ..., latency_budget_ms: _Optional[int] = ...) -> None: ...

class FrameBatch(_message.Message):
    __slots__ = ("frames",)
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    frames: _containers.RepeatedCompositeFieldContainer[Frame]
    def __init__(self, frames: _Optional[_Iterable[_Union[Frame, _Mapping]]] = ...) -> None: ...

class FrameResultBatch(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[FrameResult]
    def __init__(self, results: _Optional[_Iterable[_Union[FrameResult, _Mapping]]] = ...) -> None: ...

class BoundingBox(_message.Message):
    __slots__ = ("x1", "y1", "x2", "y2")
    X1_FIELD_NUMBER: _ClassVar[int]
    Y1_FIELD_NUMBER: _ClassVar[int]
    X2_FIELD_NUMBER: _ClassVar[int]
    Y2_FIELD_NUMBER: _ClassVar[int]
    x1: float
    y1: float
    x2: float
    y2: float
    def __init__(self, x1: _Optional[float] = ..., y1: _Optional[float] = ..., x2: _Optional[float] = ..., y2: _Optional[float] = ...) -> None: ...

class PlateRead(_message.Message):
    __slots__ = ("text", "confidence", "char_confidences", "box", "detection_score", "plate_format", "format_valid")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    CHAR_CONFIDENCES_FIELD_NUMBER: _ClassVar[int]
    BOX_FIELD_NUMBER: _ClassVar[int]
    DETECTION_SCORE_FIELD_NUMBER: _ClassVar[int]
    PLATE_FORMAT_FIELD_NUMBER: _ClassVar[int]
    FORMAT_VALID_FIELD_NUMBER: _ClassVar[int]
    text: str
    confidence: float
    char_confidences: _containers.RepeatedScalarFieldContainer[float]
    box: BoundingBox
    detection_score: float
    plate_format: str
    format_valid: bool
    def __init__(self, text: _Optional[str] = ..., confidence: _Optional[float] = ..., char_confidences: _Optional[_Iterable[float]] = ..., box: _Optional[_Union[BoundingBox, _Mapping]] = ..., detection_score: _Optional[float] = ..., plate_format: _Optional[str] = ..., format_valid: _Optional[bool] = ...) -> None: ...

class ModelVersions(_message.Message):
    __slots__ = ("detector", "recogniser")
    DETECTOR_FIELD_NUMBER: _ClassVar[int]
    RECOGNISER_FIELD_NUMBER: _ClassVar[int]
    detector: str
    recogniser: str
    def __init__(self, detector: _Optional[str] = ..., recogniser: _Optional[str] = ...) -> None: ...

class Timings(_message.Message):
    __slots__ = ("decode_ms", "queue_ms", "inference_ms", "total_ms")
    DECODE_MS_FIELD_NUMBER: _ClassVar[int]
    QUEUE_MS_FIELD_NUMBER: _ClassVar[int]
    INFERENCE_MS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_MS_FIELD_NUMBER: _ClassVar[int]
    decode_ms: float
    queue_ms: float
    inference_ms: float
    total_ms: float
    def __init__(self, decode_ms: _Optional[float] = ..., queue_ms: _Optional[float] = ..., inference_ms: _Optional[float] = ..., total_ms: _Optional[float] = ...) -> None: ...

class FrameResult(_message.Message):
    __slots__ = ("camera_id", "sequence", "status", "reason", "reads", "model_versions", "timings")
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    READS_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    TIMINGS_FIELD_NUMBER: _ClassVar[int]
    camera_id: str
    sequence: int
    status: FrameStatus
    reason: str
    reads: _containers.RepeatedCompositeFieldContainer[PlateRead]
    model_versions: ModelVersions
    timings: Timings
    def __init__(self, camera_id: _Optional[str] = ..., sequence: _Optional[int] = ..., status: _Optional[_Union[FrameStatus, str]] = ..., reason: _Optional[str] = ..., reads: _Optional[_Iterable[_Union[PlateRead, _Mapping]]] = ..., model_versions: _Optional[_Union[ModelVersions, _Mapping]] = ..., timings: _Optional[_Union[Timings, _Mapping]] = ...) -> None: ...

class RecognizeRequest(_message.Message):
    __slots__ = ("frame",)
    FRAME_FIELD_NUMBER: _ClassVar[int]
    frame: Frame
    def __init__(self, frame: _Optional[_Union[Frame, _Mapping]] = ...) -> None: ...

class RecognizeResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: FrameResult
    def __init__(self, result: _Optional[_Union[FrameResult, _Mapping]] = ...) -> None: ...

class GetStatsRequest(_message.Message):
    __slots__ = ("camera_ids",)
    CAMERA_IDS_FIELD_NUMBER: _ClassVar[int]
    camera_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, camera_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class CameraStats(_message.Message):
    __slots__ = ("camera_id", "received", "processed", "dropped", "invalid", "failed", "last_frame_age_s", "queued", "last_latency_ms")
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_FIELD_NUMBER: _ClassVar[int]
    PROCESSED_FIELD_NUMBER: _ClassVar[int]
    DROPPED_FIELD_NUMBER: _ClassVar[int]
    INVALID_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    LAST_FRAME_AGE_S_FIELD_NUMBER: _ClassVar[int]
    QUEUED_FIELD_NUMBER: _ClassVar[int]
    LAST_LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    camera_id: str
    received: int
    processed: int
    dropped: int
    invalid: int
    failed: int
    last_frame_age_s: float
    queued: int
    last_latency_ms: float
    def __init__(self, camera_id: _Optional[str] = ..., received: _Optional[int] = ..., processed: _Optional[int] = ..., dropped: _Optional[int] = ..., invalid: _Optional[int] = ..., failed: _Optional[int] = ..., last_frame_age_s: _Optional[float] = ..., queued: _Optional[int] = ..., last_latency_ms: _Optional[float] = ...) -> None: ...

class GetStatsResponse(_message.Message):
    __slots__ = ("cameras", "queued_frames", "frames_in_flight", "active_streams")
    CAMERAS_FIELD_NUMBER: _ClassVar[int]
    QUEUED_FRAMES_FIELD_NUMBER: _ClassVar[int]
    FRAMES_IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_STREAMS_FIELD_NUMBER: _ClassVar[int]
    cameras: _containers.RepeatedCompositeFieldContainer[CameraStats]
    queued_frames: int
    frames_in_flight: int
    active_streams: int
    def __init__(self, cameras: _Optional[_Iterable[_Union[CameraStats, _Mapping]]] = ..., queued_frames: _Optional[int] = ..., frames_in_flight: _Optional[int] = ..., active_streams: _Optional[int] = ...) -> None: ...

class SubscribeEventsRequest(_message.Message):
    __slots__ = ("camera_prefixes", "captures", "hits", "with_images")
    CAMERA_PREFIXES_FIELD_NUMBER: _ClassVar[int]
    CAPTURES_FIELD_NUMBER: _ClassVar[int]
    HITS_FIELD_NUMBER: _ClassVar[int]
    WITH_IMAGES_FIELD_NUMBER: _ClassVar[int]
    camera_prefixes: _containers.RepeatedScalarFieldContainer[str]
    captures: bool
    hits: bool
    with_images: bool
    def __init__(self, camera_prefixes: _Optional[_Iterable[str]] = ..., captures: _Optional[bool] = ..., hits: _Optional[bool] = ..., with_images: _Optional[bool] = ...) -> None: ...

class CaptureRecord(_message.Message):
    __slots__ = ("pass_id", "camera_id", "text", "confidence", "plate_format", "first_seen", "last_seen", "frames", "best_sequence", "direction", "model_versions", "plate_patch", "overview")
    PASS_ID_FIELD_NUMBER: _ClassVar[int]
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    PLATE_FORMAT_FIELD_NUMBER: _ClassVar[int]
    FIRST_SEEN_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_FIELD_NUMBER: _ClassVar[int]
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    BEST_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    PLATE_PATCH_FIELD_NUMBER: _ClassVar[int]
    OVERVIEW_FIELD_NUMBER: _ClassVar[int]
    pass_id: str
    camera_id: str
    text: str
    confidence: float
    plate_format: str
    first_seen: _timestamp_pb2.Timestamp
    last_seen: _timestamp_pb2.Timestamp
    frames: int
    best_sequence: int
    direction: Direction
    model_versions: ModelVersions
    plate_patch: bytes
    overview: bytes
    def __init__(self, pass_id: _Optional[str] = ..., camera_id: _Optional[str] = ..., text: _Optional[str] = ..., confidence: _Optional[float] = ..., plate_format: _Optional[str] = ..., first_seen: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_seen: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., frames: _Optional[int] = ..., best_sequence: _Optional[int] = ..., direction: _Optional[_Union[Direction, str]] = ..., model_versions: _Optional[_Union[ModelVersions, _Mapping]] = ..., plate_patch: _Optional[bytes] = ..., overview: _Optional[bytes] = ...) -> None: ...

class HotlistEntry(_message.Message):
    __slots__ = ("plate", "category", "priority", "note")
    PLATE_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    plate: str
    category: str
    priority: int
    note: str
    def __init__(self, plate: _Optional[str] = ..., category: _Optional[str] = ..., priority: _Optional[int] = ..., note: _Optional[str] = ...) -> None: ...

class HotlistHit(_message.Message):
    __slots__ = ("pass_id", "camera_id", "sequence", "entry", "match", "read", "captured_at", "plate_patch")
    PASS_ID_FIELD_NUMBER: _ClassVar[int]
    CAMERA_ID_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    MATCH_FIELD_NUMBER: _ClassVar[int]
    READ_FIELD_NUMBER: _ClassVar[int]
    CAPTURED_AT_FIELD_NUMBER: _ClassVar[int]
    PLATE_PATCH_FIELD_NUMBER: _ClassVar[int]
    pass_id: str
    camera_id: str
    sequence: int
    entry: HotlistEntry
    match: MatchKind
    read: PlateRead
    captured_at: _timestamp_pb2.Timestamp
    plate_patch: bytes
    def __init__(self, pass_id: _Optional[str] = ..., camera_id: _Optional[str] = ..., sequence: _Optional[int] = ..., entry: _Optional[_Union[HotlistEntry, _Mapping]] = ..., match: _Optional[_Union[MatchKind, str]] = ..., read: _Optional[_Union[PlateRead, _Mapping]] = ..., captured_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., plate_patch: _Optional[bytes] = ...) -> None: ...

class VehicleEvent(_message.Message):
    __slots__ = ("capture", "hit")
    CAPTURE_FIELD_NUMBER: _ClassVar[int]
    HIT_FIELD_NUMBER: _ClassVar[int]
    capture: CaptureRecord
    hit: HotlistHit
    def __init__(self, capture: _Optional[_Union[CaptureRecord, _Mapping]] = ..., hit: _Optional[_Union[HotlistHit, _Mapping]] = ...) -> None: ...
