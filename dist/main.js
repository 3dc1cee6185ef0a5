import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);
import{a as r,c as t,d as m}from"./chunks/chunk-LMO4SS2V.js";import"./chunks/chunk-KXN6VLKA.js";import{e as o}from"./chunks/chunk-MJCLGH67.js";import"./chunks/chunk-5F5ULRVH.js";import"./chunks/chunk-67BG23Y2.js";var i=r(process.env);o(i);await m(i,()=>t());
