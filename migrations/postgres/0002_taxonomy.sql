-- The AIRS/211 taxonomy terms a navigator can code a need with. Seeded with the
-- ten top-level service categories and the well-known basic-needs and income
-- terms under them; a centre that codes finer terms adds them with a later
-- migration (both backends). A need coded with a term not in this table is
-- refused. Same rows in ../sqlite/0002_taxonomy.sql.
INSERT INTO taxonomy (code, name_en, name_fr) VALUES
    ('B',       'Basic Needs',                                      'Besoins essentiels'),
    ('BD',      'Food',                                             'Alimentation'),
    ('BD-1800', 'Emergency Food',                                   'Aide alimentaire d''urgence'),
    ('BH',      'Housing/Shelter',                                  'Logement et hébergement'),
    ('BH-1800', 'Emergency Shelter',                                'Hébergement d''urgence'),
    ('BM',      'Material Goods',                                   'Biens matériels'),
    ('BT',      'Transportation',                                   'Transport'),
    ('BV',      'Utilities',                                        'Services publics'),
    ('D',       'Consumer Services',                                'Services aux consommateurs'),
    ('F',       'Criminal Justice and Legal Services',              'Justice pénale et services juridiques'),
    ('H',       'Education',                                        'Éducation'),
    ('J',       'Environment and Public Health/Safety',             'Environnement, santé et sécurité publiques'),
    ('L',       'Health Care',                                      'Soins de santé'),
    ('N',       'Income Support and Employment',                    'Soutien du revenu et emploi'),
    ('ND',      'Employment',                                       'Emploi'),
    ('NL',      'Public Assistance Programs',                       'Programmes d''aide publique'),
    ('NS',      'Social Insurance Programs',                        'Programmes d''assurance sociale'),
    ('NT',      'Temporary Financial Assistance',                   'Aide financière temporaire'),
    ('P',       'Individual and Family Life',                       'Vie individuelle et familiale'),
    ('R',       'Mental Health and Substance Use Disorder Services','Santé mentale et usage de substances'),
    ('T',       'Organizational/Community/International Services', 'Services organisationnels, communautaires et internationaux');
