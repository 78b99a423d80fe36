"""The preset dictionary of stored events, version 1 (``compression.py``): a storage format.

Typical cartpath events, least frequent kinds first and the most frequent (NodeCompleted,
TaskBecameReady, TaskCompleted) nearest the end, where deflate reaches them with the
shortest distances. Simulated data (``cartpath demo``): no patient's data is in it.
Events compressed with it need exactly these bytes to be read back, so they are never
edited; a better dictionary is a new version with its own marker byte.
"""

DICTIONARY_V1 = (
    b'"2026-12-02T22:11:35.629764+00:00"},"task_id":"a4ec7e66-62aa-5e9a-8891-ff89d92cddf4","node_id":"time'
    b'r_infusion_day","how":"done","at":{"_type_":"datetime_iso","_data_":"2026-03-15T00:00:00.000001+00:0'
    b'0"}}{"timestamp":{"_type_":"datetime_iso","_data_":"2026-12-02T22:12:09.839278+00:00"},"task_id":"7b'
    b'882abc-7084-5b41-b9c7-a57df4b9ce08","node_id":"timer_schedule","how":"done","at":{"_type_":"datetime'
    b'_iso","_data_":"2027-03-23T00:01:00.000001+00:00"}}{"timestamp":{"_type_":"datetime_iso","_data_":"2'
    b'026-12-02T22:11:40.150585+00:00"},"task_id":"69b33fc5-2287-5314-ba79-e30f4f30046b","node_id":"timer_'
    b'post_discharge","how":"done","at":{"_type_":"datetime_iso","_data_":"2026-03-21T00:15:00.000001+00:0'
    b'0"}}{"timestamp":{"_type_":"datetime_iso","_data_":"2026-12-02T22:11:40.730135+00:00"},"task_id":"eb'
    b'179306-8bc8-5da5-b006-7d8fa04e060a","name":"daily_assessment","lane":"ward","data":{"temperature_c":'
    b'36.9,"hypotension":"none","oxygen":"none","ice_score":10,"seizure":false,"cerebral_edema":"none","co'
    b'nsciousness":"alert","seizure_prolonged":false,"motor_weakness":false,"raised_icp":false},"actor":{"'
    b'sub":"sim-ward","roles":["ward"]},"at":{"_type_":"datetime_iso","_data_":"2026-03-22T00:14:00+00:00"'
    b'},"signatures":[],"class_version":2}{"timestamp":{"_type_":"datetime_iso","_data_":"2026-12-02T22:11'
    b':38.056105+00:00"},"task_id":"14d37b5d-849e-5b1e-94eb-833fd93e27e8","name":"icu_discharge","lane":"i'
    b'cu","data":{"discharged_at":"2026-03-18T00:05:00+00:00"},"actor":{"sub":"sim-icu","roles":["icu"]},"'
    b'at":{"_type_":"datetime_iso","_data_":"2026-03-18T00:05:00+00:00"},"signatures":[],"class_version":2'
    b'}{"timestamp":{"_type_":"datetime_iso","_data_":"2026-12-02T22:11:48.524960+00:00"},"task_id":"bdf5f'
    b'0e5-b3f8-5029-aefd-1432aa5f5664","name":"follow_up_visit","lane":"hematology","data":{"response":"CR'
    b'","alive":true},"actor":{"sub":"sim-hematology","roles":["hematology"]},"at":{"_type_":"datetime_iso'
    b'","_data_":"2026-04-17T00:02:00+00:00"},"signatures":[],"class_version":2}{"timestamp":{"_type_":"da'
    b'tetime_iso","_data_":"2026-12-02T22:11:34.100480+00:00"},"task_id":"2f5468ca-8111-55d9-a9b6-1554e554'
    b'c3b9","name":"daily_assessment","lane":"ward","title":"Toxicity assessment (at least daily)","due_at'
    b'":"2026-03-14T00:10:00+00:00","at":{"_type_":"datetime_iso","_data_":"2026-03-13T00:10:00+00:00"},"c'
    b'lass_version":2}{"timestamp":{"_type_":"datetime_iso","_data_":"2026-12-02T22:10:59.907082+00:00"},"'
    b'task_id":"c1ba4885-1463-5d04-b379-68c297bd55a6","name":"patient_consent","lane":"coordination","titl'
    b'e":"Patient consent","due_at":"2026-02-09T23:31:57.511199+00:00","at":{"_type_":"datetime_iso","_dat'
    b'a_":"2026-01-26T23:31:57.511199+00:00"},"class_version":2}{"timestamp":{"_type_":"datetime_iso","_da'
    b'ta_":"2026-12-02T22:11:08.018620+00:00"},"task_id":"b86ecf15-09ea-5f57-bdf7-bee6cd9582ef","name":"ly'
    b'mphodepletion_end","lane":"ward","title":"End of lymphodepletion","due_at":"2026-02-19T21:51:36.3411'
    b'67+00:00","at":{"_type_":"datetime_iso","_data_":"2026-02-14T21:51:36.341167+00:00"},"class_version"'
    b':2}{"timestamp":{"_type_":"datetime_iso","_data_":"2026-12-02T22:11:45.701116+00:00"},"node_id":"gw_'
    b'escalate","kind":"exclusiveGateway","flows":["f_check_discharge_readiness__gw_escalate"],"at":{"_typ'
    b'e_":"datetime_iso","_data_":"2026-03-31T00:15:00+00:00"},"result":null}{"timestamp":{"_type_":"datet'
    b'ime_iso","_data_":"2026-12-02T22:11:42.707977+00:00"},"node_id":"check_discharge_readiness","kind":"'
    b'businessRuleTask","flows":["f_track_grades__check_discharge_readiness"],"at":{"_type_":"datetime_iso'
    b'","_data_":"2026-03-26T00:04:00+00:00"},"result":{"ready":false}}{"timestamp":{"_type_":"datetime_is'
    b'o","_data_":"2026-12-02T22:11:37.813367+00:00"},"node_id":"merge_schedule","kind":"exclusiveGateway"'
    b',"flows":["f_split_after_infusion__merge_schedule"],"at":{"_type_":"datetime_iso","_data_":"2026-03-'
    b'18T00:01:00+00:00"},"result":null}'
)
