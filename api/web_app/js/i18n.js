// French and English labels. Task and lane titles follow PATHWAY.md (its ids stay as they are).
const TEXT = {
  en: {
    skip: 'Skip to content', language: 'Language', main_nav: 'Main', loading: 'Loading…',
    nav_worklist: 'Worklist', nav_pathways: 'Pathways', nav_process: 'Process', nav_dashboard: 'Dashboard',
    sign_out: 'Sign out', signed_in_as: 'Signed in as {sub}',
    signin_title: 'Sign in', signin_dev: 'Development sign-in: pick a configured user', signin_as: 'Sign in as {name}',
    signin_oidc: 'Sign in with your organisation', signin_none: 'No sign-in is configured on this server (see the README, "Web app").',
    roles: 'Roles', centers: 'Centres',
    worklist_title: 'My worklist', filter_lane: 'Lane', filter_center: 'Centre', all: 'All',
    col_task: 'Task', col_patient: 'Patient', col_center: 'Centre', col_lane: 'Lane', col_ready: 'Ready since',
    col_due: 'Due', col_waiting: 'Waiting (days)', col_pathway: 'Pathway', overdue: 'overdue',
    tasks_count: 'Ready tasks: {n}, oldest first', no_tasks: 'Nothing to do in your lanes.', open: 'Open',
    task_title: 'Task', complete: 'Complete', cancel_edit: 'Back', required: 'required',
    yes: 'Yes', no: 'No', choose: '— choose —', completed_ok: 'Task completed.',
    form_problem: 'The task was not completed:', signature: 'Electronic signature', meaning: 'Meaning',
    signature_confirm: 'I confirm my identity and sign as {name}', witness: 'Witness', countersign: 'Countersignature',
    pathway_title: 'Pathway {ref}', status: 'Status', outcome: 'Outcome', product: 'Product', indication: 'Indication',
    diagram: 'Diagram', legend_done: 'completed', legend_active: 'active (ready task)', legend_waiting: 'waiting',
    timeline: 'Timeline', custody: 'Chain of custody', history: 'History', data: 'Data', verify: 'Verify',
    verify_ok: 'Verified: the recorded history follows from its inputs ({n} events).',
    verify_bad: 'Verification failed: {detail}', cancel: 'Cancel the pathway', reason: 'Reason', comment: 'Comment',
    death_date: 'Date of death', death_cause: 'Cause of death', cancel_do: 'Cancel pathway', cancelled_ok: 'Pathway cancelled.',
    col_step: 'Step', col_actor: 'Actor', col_at: 'At', col_done: 'Done', col_type: 'Event', col_kind: 'Kind',
    col_place: 'Place', col_coi: 'COI check', col_order: 'Order', chain_intact: 'Chain of identity intact',
    chain_broken: 'Chain of identity: problems', waiting_for: 'Waiting for', ready_tasks: 'Ready tasks',
    pathways_title: 'Pathways', col_started: 'Started', col_status: 'Status',
    process_title: 'Process', versions: 'Deployed versions', col_key: 'Key', col_version: 'Version',
    col_files: 'Files', heat_title: 'Where pathways are now', heat_note: 'Badge: pathways there now · median / p90 waiting (days)',
    period_from: 'From', period_to: 'To', apply: 'Apply', deploy: 'Deploy new files', deploy_files: 'BPMN / DMN files',
    deploy_do: 'Deploy', deployed_ok: 'Deployed {key} version {version}.', lint_problems: 'The files were refused:',
    dashboard_title: 'Dashboard', kpi_v2v: 'Vein-to-vein (median days)', kpi_o2i: 'Order to infusion (median days)',
    kpi_dropout: 'Drop-out', kpi_icu: 'ICU transfer rate', kpi_bridging: 'Bridging rate', kpi_pathways: 'Pathways',
    chart_v2v: 'Vein-to-vein distribution (days)', chart_v2v_groups: 'Vein-to-vein by centre and product (days)', days: 'days', patients: 'patients', chart_dropout: 'Drop-out by reason', chart_crs: 'CRS maximum grade',
    chart_icans: 'ICANS maximum grade', capacity: 'Capacity forecast: occupied beds per day', beds: 'beds',
    occupied: 'occupied', assumptions: 'Assumptions', filter_product: 'Product', weeks: 'Weeks',
    error: 'Error', not_found: 'Not found', zoom_in: 'Zoom in', zoom_out: 'Zoom out', zoom_fit: 'Whole diagram', refresh: 'Refresh', now_here: 'There now', median: 'Median (days)', done_count: 'Went through', data_table: 'Figures', nav_outbox: 'Messages sent', sign_at_issuer: 'Confirm identity at the identity provider', signed_by: 'signed by {sub}', outbox_title: 'Messages the hospital sent you', outbox_note: 'Your system answers through POST /api/v1/messages (see the API docs); these are your orders only.', col_message: 'Message', col_payload: 'Payload', grade: 'Grade', ward_expected: 'Ward, expected', icu_expected: 'ICU, expected',
    type_string: 'text', type_int: 'whole number', type_number: 'number', type_bool: 'yes/no', type_date: 'date (YYYY-MM-DD)', type_datetime: 'date and time (UTC)', type_enum: 'one of the list',
  },
  fr: {
    skip: 'Aller au contenu', language: 'Langue', main_nav: 'Navigation principale', loading: 'Chargement…',
    nav_worklist: 'Tâches', nav_pathways: 'Parcours', nav_process: 'Processus', nav_dashboard: 'Tableau de bord',
    sign_out: 'Se déconnecter', signed_in_as: 'Connecté·e : {sub}',
    signin_title: 'Connexion', signin_dev: 'Connexion de développement : choisir un utilisateur configuré', signin_as: 'Se connecter en tant que {name}',
    signin_oidc: 'Se connecter avec votre établissement', signin_none: 'Aucune connexion n’est configurée sur ce serveur (voir le README, « Web app »).',
    roles: 'Rôles', centers: 'Centres',
    worklist_title: 'Mes tâches', filter_lane: 'Couloir', filter_center: 'Centre', all: 'Tous',
    col_task: 'Tâche', col_patient: 'Patient', col_center: 'Centre', col_lane: 'Couloir', col_ready: 'Prête depuis',
    col_due: 'Échéance', col_waiting: 'Attente (jours)', col_pathway: 'Parcours', overdue: 'en retard',
    tasks_count: 'Tâches prêtes : {n}, les plus anciennes d’abord', no_tasks: 'Rien à faire dans vos couloirs.', open: 'Ouvrir',
    task_title: 'Tâche', complete: 'Valider', cancel_edit: 'Retour', required: 'obligatoire',
    yes: 'Oui', no: 'Non', choose: '— choisir —', completed_ok: 'Tâche validée.',
    form_problem: 'La tâche n’a pas été validée :', signature: 'Signature électronique', meaning: 'Signification',
    signature_confirm: 'Je confirme mon identité et signe en tant que {name}', witness: 'Témoin', countersign: 'Contre-signature',
    pathway_title: 'Parcours {ref}', status: 'Statut', outcome: 'Issue', product: 'Produit', indication: 'Indication',
    diagram: 'Diagramme', legend_done: 'terminé', legend_active: 'actif (tâche prête)', legend_waiting: 'en attente',
    timeline: 'Chronologie', custody: 'Chaîne de traçabilité', history: 'Historique', data: 'Données', verify: 'Vérifier',
    verify_ok: 'Vérifié : l’historique enregistré découle de ses entrées ({n} événements).',
    verify_bad: 'Échec de la vérification : {detail}', cancel: 'Annuler le parcours', reason: 'Motif', comment: 'Commentaire',
    death_date: 'Date du décès', death_cause: 'Cause du décès', cancel_do: 'Annuler le parcours', cancelled_ok: 'Parcours annulé.',
    col_step: 'Étape', col_actor: 'Acteur', col_at: 'Le', col_done: 'Terminée', col_type: 'Événement', col_kind: 'Nature',
    col_place: 'Lieu', col_coi: 'Contrôle COI', col_order: 'Ordre', chain_intact: 'Chaîne d’identité intacte',
    chain_broken: 'Chaîne d’identité : anomalies', waiting_for: 'En attente de', ready_tasks: 'Tâches prêtes',
    pathways_title: 'Parcours', col_started: 'Débuté', col_status: 'Statut',
    process_title: 'Processus', versions: 'Versions déployées', col_key: 'Clé', col_version: 'Version',
    col_files: 'Fichiers', heat_title: 'Où en sont les parcours', heat_note: 'Pastille : parcours présents · attente médiane / p90 (jours)',
    period_from: 'Du', period_to: 'Au', apply: 'Appliquer', deploy: 'Déployer de nouveaux fichiers', deploy_files: 'Fichiers BPMN / DMN',
    deploy_do: 'Déployer', deployed_ok: '{key} version {version} déployé.', lint_problems: 'Les fichiers ont été refusés :',
    dashboard_title: 'Tableau de bord', kpi_v2v: 'Veine-à-veine (jours, médiane)', kpi_o2i: 'Commande à perfusion (jours, médiane)',
    kpi_dropout: 'Abandons', kpi_icu: 'Transferts en réanimation', kpi_bridging: 'Traitement d’attente', kpi_pathways: 'Parcours',
    chart_v2v: 'Distribution veine-à-veine (jours)', chart_v2v_groups: 'Veine-à-veine par centre et produit (jours)', days: 'jours', patients: 'patients', chart_dropout: 'Abandons par motif', chart_crs: 'Grade maximal de SRC (CRS)',
    chart_icans: 'Grade maximal d’ICANS', capacity: 'Prévision de capacité : lits occupés par jour', beds: 'lits',
    occupied: 'occupés', assumptions: 'Hypothèses', filter_product: 'Produit', weeks: 'Semaines',
    error: 'Erreur', not_found: 'Introuvable', zoom_in: 'Agrandir', zoom_out: 'Réduire', zoom_fit: 'Diagramme entier', refresh: 'Actualiser', now_here: 'Présents', median: 'Médiane (jours)', done_count: 'Passés', data_table: 'Chiffres', nav_outbox: 'Messages envoyés', sign_at_issuer: 'Confirmer l’identité auprès du fournisseur', signed_by: 'signé par {sub}', outbox_title: 'Messages que l’hôpital vous a envoyés', outbox_note: 'Votre système répond par POST /api/v1/messages (voir la documentation de l’API) ; seules vos commandes figurent ici.', col_message: 'Message', col_payload: 'Contenu', grade: 'Grade', ward_expected: 'Service, attendu', icu_expected: 'Réanimation, attendu',
    type_string: 'texte', type_int: 'nombre entier', type_number: 'nombre', type_bool: 'oui/non', type_date: 'date (AAAA-MM-JJ)', type_datetime: 'date et heure (UTC)', type_enum: 'un choix de la liste',
  },
};

// PATHWAY.md's tasks and lanes in both languages (the model's own title is the fallback)
const TASKS = {
  rcp_eligibility: ['RCP eligibility', 'Éligibilité en RCP'], patient_consent: ['Patient consent', 'Consentement du patient'],
  place_order: ['Place the order', 'Passer la commande'], chase_slot: ['Chase the slot', 'Relancer pour le créneau'],
  apheresis: ['Apheresis', 'Aphérèse'], ship_apheresis: ['Ship the apheresis', 'Expédier l’aphérèse'],
  bridging_decision: ['Bridging decision', 'Décision de traitement d’attente'],
  chase_manufacturer: ['Chase the manufacturer', 'Relancer le fabricant'], failure_decision: ['Failure decision', 'Décision après échec'],
  oos_acceptance: ['Out-of-spec acceptance', 'Acceptation hors spécifications'], product_receipt: ['Product receipt', 'Réception du produit'],
  lymphodepletion_start: ['Lymphodepletion start', 'Début de la lymphodéplétion'],
  lymphodepletion_end: ['Lymphodepletion end', 'Fin de la lymphodéplétion'],
  tocilizumab_reservation: ['Tocilizumab reservation', 'Réservation de tocilizumab'],
  pre_infusion_check: ['Pre-infusion check', 'Contrôle avant perfusion'], deferral_decision: ['Deferral decision', 'Décision de report'],
  product_disposition: ['Product disposition', 'Devenir du produit'], thaw_product: ['Thaw the product', 'Décongélation du produit'],
  infusion: ['Infusion', 'Perfusion'], daily_assessment: ['Daily assessment', 'Évaluation quotidienne'],
  toxicity_treatment: ['Toxicity treatment', 'Traitement de la toxicité'], icu_review: ['ICU review', 'Avis de réanimation'],
  icu_transfer: ['ICU transfer', 'Transfert en réanimation'], icu_assessment: ['ICU assessment', 'Évaluation en réanimation'],
  icu_discharge: ['ICU discharge', 'Sortie de réanimation'], discharge: ['Discharge', 'Sortie d’hospitalisation'],
  post_discharge_visit: ['Post-discharge visit', 'Visite après la sortie'], follow_up_visit: ['Follow-up visit', 'Visite de suivi'],
  registry_report: ['Registry report', 'Déclaration au registre'],
};
const LANES = {
  coordination: ['Coordination', 'Coordination'], hematology: ['Haematology', 'Hématologie'], apheresis: ['Apheresis', 'Aphérèse'],
  pharmacy: ['Pharmacy', 'Pharmacie (PUI)'], cell_therapy_unit: ['Cell therapy unit', 'Unité de thérapie cellulaire'],
  ward: ['Ward', 'Service d’hospitalisation'], icu: ['ICU', 'Réanimation'], manufacturer: ['Manufacturer', 'Fabricant'],
  process_owner: ['Process owner', 'Responsable de processus'], auditor: ['Auditor', 'Auditeur'], admin: ['Administrator', 'Administrateur'],
};

let lang = (navigator.language || 'en').toLowerCase().startsWith('fr') ? 'fr' : 'en';

export function getLang() { return lang; }
export function setLang(value) { lang = value === 'fr' ? 'fr' : 'en'; document.documentElement.lang = lang; }

export function t(key, params = {}) {
  const text = (TEXT[lang] && TEXT[lang][key]) || TEXT.en[key] || key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (params[name] !== undefined ? String(params[name]) : ''));
}

export function taskTitle(name, fallback) {
  const found = TASKS[name];
  return found ? found[lang === 'fr' ? 1 : 0] : (fallback || name);
}

export function laneTitle(lane) {
  const found = LANES[lane];
  return found ? found[lang === 'fr' ? 1 : 0] : (lane || '—');
}

// One formatter per language: toLocaleString builds a new one per call (1,000 rows: most of a second)
const formatters = {};
export function formatTime(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  formatters[lang] = formatters[lang] || new Intl.DateTimeFormat(lang === 'fr' ? 'fr-FR' : 'en-GB',
    { dateStyle: 'short', timeStyle: 'short', timeZone: 'UTC' });
  return `${formatters[lang].format(d)} UTC`;
}
