"""The preset dictionary of stored events, version 1 (``compression.py``): a storage format.

Typical cartpath events, picked greedily: from 250 events sampled from a 100-patient
``cartpath demo`` store (half its pathways), each step added the one that most shrank 400
events of the other half, compressed one by one as stored (deflate level 9, 4 KiB window),
until the window was full: about a fifth of the plain bytes, against 0.23 for samples
picked at random. Simulated data, no signatures: no patient's or person's data is in it.
Events compressed with it need exactly these bytes to be read back, so they are never
edited; a better dictionary is a new version with its own marker byte.
"""

DICTIONARY_V1 = (
    b'_":"datetime_iso","_data_":"2026-02-28T00:02:00+00:00"},"result":null}{"timestamp":{"_type_":"dateti'
    b'me_iso","_data_":"2026-12-02T22:11:35.688595+00:00"},"task_id":"209eddd4-4026-5254-9ba1-5754e618d00b'
    b'","name":"daily_assessment","lane":"ward","data":{"temperature_c":36.9,"hypotension":"none","oxygen"'
    b':"none","ice_score":10,"seizure":false,"cerebral_edema":"none","consciousness":"alert","seizure_prol'
    b'onged":false,"motor_weakness":false,"raised_icp":false},"actor":{"sub":"sim-ward","roles":["ward"]},'
    b'"at":{"_type_":"datetime_iso","_data_":"2026-03-15T00:01:00+00:00"},"signatures":[],"class_version":'
    b'2}{"timestamp":{"_type_":"datetime_iso","_data_":"2026-12-02T22:11:06.191135+00:00"},"node_id":"sche'
    b'dule_next","kind":"scriptTask","flows":["f_merge_schedule__schedule_next"],"at":{"_type_":"datetime_'
    b'iso","_data_":"2026-02-12T00:02:00+00:00"},"result":null}{"timestamp":{"_type_":"datetime_iso","_dat'
    b'a_":"2026-12-02T22:11:30.460433+00:00"},"task_id":"9cf84473-347d-5ae8-9244-0f6b872de618","name":"fol'
    b'low_up_visit","lane":"hematology","title":"Follow-up visit","due_at":"2026-03-23T00:01:00.000001+00:'
    b'00","at":{"_type_":"datetime_iso","_data_":"2026-03-09T00:01:00.000001+00:00"},"class_version":2}{"t'
    b'imestamp":{"_type_":"datetime_iso","_data_":"2026-12-02T22:11:44.572268+00:00"},"node_id":"crs_gradi'
    b'ng","kind":"businessRuleTask","flows":["f_prepare_assessment__crs_grading"],"at":{"_type_":"datetime'
    b'_iso","_data_":"2026-03-29T00:13:00+00:00"},"result":{"crs_grade":0}}{"timestamp":{"_type_":"datetim'
    b'e_iso","_data_":"2026-12-02T22:11:12.903653+00:00"},"name":"product_shipped","message_id":"ORD-SIM-0'
    b'0041-894ff8-product_shipped-1926","correlation":{"order_id":"ORD-SIM-00041-894ff8","coi":"W123426000'
    b'04100"},"payload":{"shipper_id":"SHP-5567","tracking":"TRK292244582","shipped_at":"2026-02-20T16:55:'
    b'53.556465+00:00"},"delivered":true,"actor":{"sub":"portal-janssen","roles":["manufacturer"],"org":"j'
    b'anssen"},"at":{"_type_":"datetime_iso","_data_":"2026-02-20T16:55:53.556465+00:00"}}{"timestamp":{"_'
    b'type_":"datetime_iso","_data_":"2026-12-02T22:12:08.295951+00:00"},"node_id":"timer_schedule","kind"'
    b':"intermediateCatchEvent","flows":["f_schedule_next__timer_schedule"],"at":{"_type_":"datetime_iso",'
    b'"_data_":"2027-03-01T00:02:00+00:00"},"result":null}{"timestamp":{"_type_":"datetime_iso","_data_":"'
    b'2026-12-02T22:11:56.159607+00:00"},"task_id":"14f02b74-7d8c-502f-8c19-0d33537cc6c3","name":"registry'
    b'_report","lane":"coordination","data":{"registry":"DESCAR-T","submitted_at":"2026-06-17T00:02:00+00:'
    b'00","timepoint":"day100"},"actor":{"sub":"sim-coordination","roles":["coordination"]},"at":{"_type_"'
    b':"datetime_iso","_data_":"2026-06-17T00:02:00+00:00"},"signatures":[],"class_version":2}{"timestamp"'
    b':{"_type_":"datetime_iso","_data_":"2026-12-02T22:11:38.037202+00:00"},"task_id":"245c6ab8-57d2-5ba1'
    b'-84b8-d9582403e727","name":"daily_assessment","lane":"ward","title":"Toxicity assessment (at least d'
    b'aily)","due_at":"2026-03-19T00:04:00+00:00","at":{"_type_":"datetime_iso","_data_":"2026-03-18T00:04'
    b':00+00:00"},"class_version":2}{"timestamp":{"_type_":"datetime_iso","_data_":"2026-12-02T22:11:08.39'
    b'0212+00:00"},"node_id":"merge_daily","kind":"exclusiveGateway","flows":["f_gw_escalate__merge_daily"'
    b'],"at":{"_type_":"datetime_iso","_data_":"2026-02-15T00:07:00+00:00"},"result":null}{"timestamp":{"_'
    b'type_":"datetime_iso","_data_":"2026-12-02T22:11:27.465060+00:00"},"node_id":"daily_assessment","kin'
    b'd":"userTask","flows":["f_merge_daily__daily_assessment"],"at":{"_type_":"datetime_iso","_data_":"20'
    b'26-03-05T00:05:00+00:00"},"result":null}{"timestamp":{"_type_":"datetime_iso","_data_":"2026-12-02T2'
    b'2:11:13.647269+00:00"},"node_id":"check_discharge_readiness","kind":"businessRuleTask","flows":["f_t'
    b'rack_grades__check_discharge_readiness"],"at":{"_type_":"datetime_iso","_data_":"2026-02-21T00:09:00'
    b'+00:00"},"result":{"ready":false}}'
)
